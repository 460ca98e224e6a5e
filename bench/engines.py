"""Dispatches delivered per second to Prefect and to DBOS, against the recorder engine
(which calls nothing: the gateway's own ceiling), same run, same load.

    uv run --all-packages python bench/engines.py [--dispatches 500] [--clients 16]

For each engine one gateway (``highway-triggers serve``, one worker, SQLite in a
temporary data dir) with one MANUAL trigger; ``--clients`` threads post ``--dispatches``
manual triggers as fast as it takes them, and the clock stops when the gateway counts
every dispatch delivered (``highway_dispatches_total{status="delivered"}``). Prefect: a
real server (``prefect server start`` from the Prefect environment, see
plugins/prefect/tests/prefect_server.py) and a deployment no worker serves, so each
delivery is one ``create_flow_run`` and the runs stay scheduled. DBOS: a real DBOS
application (plugins/dbos/tests/dbos_app.py) on a PostgreSQL database of its own,
whose ``echo`` workflows run as they are enqueued.

Prints, per engine: requests/s taken (202s), dispatches delivered/s (first request to
last delivery), the ratio to the recorder, dead dispatches (must be 0) and failed
attempts that were retried.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins/prefect/tests"), str(ROOT / "plugins/dbos/tests")]

from dbos_server import running_dbos  # noqa: E402
from prefect_server import VENV, running_prefect  # noqa: E402

from highway_triggers.testing import (  # noqa: E402
    ADMIN_TOKEN,
    GatewayProcess,
    gateway_env,
    metric,
    postgres_database,
    wait_until,
)

WORKFLOW = {"recorder": "bench", "prefect": "bench:bench", "dbos": "test:echo"}


@contextmanager
def prefect_engine(workdir: Path) -> Iterator[dict[str, str]]:
    """A Prefect server with the flow ``bench`` and its deployment ``bench``, unserved."""
    if not (VENV / "bin" / "prefect").exists():
        raise SystemExit(f"no Prefect environment at {VENV}: run scripts/test-setup")
    folder = workdir / "prefect"
    folder.mkdir()
    with running_prefect(folder, flows=False) as prefect:
        flow = wait_until(lambda: created(prefect.api.post("/flows/", json={"name": "bench"})))
        deployment = {"name": "bench", "flow_id": flow["id"]}
        wait_until(lambda: created(prefect.api.post("/deployments/", json=deployment)))
        yield {"prefect_api_url": prefect.api_url}


def created(answer: httpx.Response) -> dict[str, str] | None:
    """The body of a create Prefect answered, ``None`` for its 503 of a busy start-up."""
    if answer.status_code == 503:
        return None
    answer.raise_for_status()
    body: dict[str, str] = answer.json()
    return body


@contextmanager
def dbos_engine(workdir: Path) -> Iterator[dict[str, str]]:
    with postgres_database() as url, running_dbos(url, workdir) as dbos:
        yield {"dbos_database_url": dbos.database_url}


def measure(
    engine: str, settings: dict[str, str], n: int, clients: int, workdir: Path
) -> dict[str, float]:
    folder = workdir / f"gateway-{engine}"
    folder.mkdir()
    env = gateway_env(
        f"sqlite:///{folder / 'gateway.db'}",
        folder,
        engine=engine,
        auto_migrate="true",
        dispatch_poll_seconds=0.05,
        **settings,
    )
    process = GatewayProcess(env, folder / "gateway.log").start()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    workflow = WORKFLOW[engine]
    try:
        with httpx.Client(base_url=process.url, headers=headers, timeout=60) as client:
            deployed = client.post(
                f"/api/v1/deployment/workflows/{workflow}/deploy",
                json={"triggers": [{"type": "MANUAL", "config": {}}]},
            )
            deployed.raise_for_status()

            def fire(k: int) -> None:
                answer = client.post(
                    f"/api/v1/triggers/workflows/{workflow}/manual", json={"data": {"k": k}}
                )
                assert answer.status_code == 202, answer.text

            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(fire, range(n)))
            taken = time.perf_counter() - started

            def delivered() -> bool:
                return metric(client, "highway_dispatches_total", status="delivered") >= n

            try:
                wait_until(delivered, timeout=600, interval=0.02)
            except Exception:
                print((folder / "gateway.log").read_text()[-3000:], file=sys.stderr)
                print(
                    client.get("/api/v1/dispatches", params={"limit": 3}).text[:2000],
                    file=sys.stderr,
                )
                raise
            elapsed = time.perf_counter() - started
            dead = metric(client, "highway_dispatches_total", status="dead")
            failed = metric(client, "highway_dispatches_total", status="failed")
    finally:
        process.stop()
    return {"taken": n / taken, "delivered": n / elapsed, "dead": dead, "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dispatches", type=int, default=500)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        engines = {
            "recorder": {},
            "prefect": stack.enter_context(prefect_engine(workdir)),
            "dbos": stack.enter_context(dbos_engine(workdir)),
        }
        results = {
            engine: measure(engine, settings, args.dispatches, args.clients, workdir)
            for engine, settings in engines.items()
        }
    ceiling = results["recorder"]["delivered"]
    print(f"{args.dispatches} dispatches, {args.clients} clients")
    print(
        f"{'engine':10} {'taken/s':>9} {'delivered/s':>12} {'vs recorder':>12} {'dead':>5} {'retried':>8}"
    )
    for engine, r in results.items():
        print(
            f"{engine:10} {r['taken']:9.0f} {r['delivered']:12.0f}"
            f" {r['delivered'] / ceiling:12.2f} {r['dead']:5.0f} {r['failed']:8.0f}"
        )


if __name__ == "__main__":
    main()
