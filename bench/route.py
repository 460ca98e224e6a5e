"""Ingress throughput and latency against the bare-endpoint ceiling, same run, same load.

    uv run --all-packages python bench/route.py [--seconds 10] [--sizes 1000,1000000]
        [--database sqlite|postgresql] [--workers N]

Measures with wrk (Debian package ``wrk``; 2 threads, 32 connections, ~1 KB JSON):

1. a bare Starlette endpoint (read JSON, answer 202) under uvicorn, one worker;
2. the full ingress path of the gateway (``--workers`` processes, default one; SQLite
   by default — ``HIGHWAY_SQLITE_SYNCHRONOUS`` from the environment, FULL unless set —
   or a new database on the PostgreSQL server of ``HIGHWAY_TEST_POSTGRES_URL``), recorder
   engine:
   ``POST /api/v1/events/{tenant}`` — tenant JWT check, dedup (unique
   ``Idempotency-Key`` per request), phase 1 + 2 routing to one EVENT trigger among N,
   outbox commit (group commit), 202 — with N deployed triggers for each size.

Prints requests/s, p50/p99 latency, the ratio to the bare endpoint, the in-process
routing cost (phases 1 + 2) per event, and start-up restore time per size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt

from highway_triggers.core.plugins import load_plugins
from highway_triggers.db import migrate
from highway_triggers.db.database import Database
from highway_triggers.db.driver import placeholder
from highway_triggers.testing import free_port, postgres_database, wait_until

TENANT = "bench"
SECRET_KEY = "bench-secret-key"
WRK_THREADS, WRK_CONNECTIONS = 2, 32
PAD = "x" * 900

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def ingest(request):
    await request.json()
    return JSONResponse({"status": "accepted"}, status_code=202)

async def health(request):
    return JSONResponse({})

app = Starlette(routes=[
    Route("/ingest/{tenant}", ingest, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
])
"""

WRK_SCRIPT = """
local n = %(n)d
local token = "%(token)s"
local path = "%(path)s"
local run = "%(run)s"
local pad = "%(pad)s"
-- a global, not a local: setup() sets each thread's own through thread:set (a local
-- would shadow it, every thread would send the same keys and half the events would be
-- duplicates)
tid = 0
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() + tid * 7919)
end
function request()
  counter = counter + 1
  local name = "evt-" .. math.random(0, n - 1)
  local body = '{"event_name":"' .. name .. '","payload":{"pad":"' .. pad .. '"}}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run .. "-" .. tid .. "-" .. counter,
  }
  return wrk.format("POST", path, headers, body)
end
"""


def wrk(url: str, path: str, n: int, token: str, seconds: int, workdir: Path) -> dict[str, float]:
    script = workdir / "load.lua"
    script.write_text(
        WRK_SCRIPT % {"n": n, "token": token, "path": path, "run": uuid.uuid4().hex[:8], "pad": PAD}
    )
    return run_wrk(url, script, seconds)


def outcome_counts(url: str, deliveries: str, refused: str, **labels: str) -> dict[str, int]:
    """A plugin's count, from the gateway's ``/metrics``, of its deliveries by ``outcome``
    (the samples of ``deliveries`` that carry ``labels``) and of its refusals (every
    sample of ``refused``)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts = {"delivered": 0, "filtered": 0, "duplicate": 0, "refused": 0}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == refused:
                counts["refused"] += int(sample.value)
            elif sample.name == deliveries and labels.items() <= sample.labels.items():
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0) + int(sample.value)
    return counts


def run_wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    """wrk with the Lua ``script`` against ``url`` for ``seconds``: requests/s, p50/p99 ms,
    non-2xx responses (``errors``) and completed ``requests``."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(WRK_THREADS),
            "-c",
            str(WRK_CONNECTIONS),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def serve(cmd: list[str], env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    log = open(cwd / f"server-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=log)

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError((cwd / f"server-{port}.log").read_text()[-3000:])
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=900, interval=0.2)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def start_bare(workdir: Path, *server: str) -> tuple[subprocess.Popen[bytes], str]:
    """The ceiling: a bare Starlette endpoint under uvicorn, one worker.

    By default on the gateway's own server stack (uvicorn[standard]: uvloop, httptools);
    ``server`` adds uvicorn options, e.g. ``--loop asyncio --http h11`` for plain uvicorn.
    """
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    process = serve(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log", *server],
        {"PYTHONPATH": str(workdir)}, port, workdir,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def plain_uvicorn_rps(workdir: Path, seconds: int) -> float:
    """The bare endpoint on plain uvicorn (asyncio loop, h11), the setup behind the
    ~8,100 req/s ceiling measured on this project's VM: printed for reference, not used in the ratio."""
    process, url = start_bare(workdir, "--loop", "asyncio", "--http", "h11")
    try:
        wrk(url, f"/ingest/{TENANT}", 1, "none", 2, workdir)
        return wrk(url, f"/ingest/{TENANT}", 1, "none", seconds, workdir)["rps"]
    finally:
        stop(process)


def seed(database_url: str, n: int) -> str:
    """Schema, N EVENT triggers (evt-0 … evt-N-1) of one tenant, the tenant; its JWT."""
    from highway_triggers.core.secrets import SecretCipher
    from highway_triggers.core.tenants import MAX_RATE, TenantService, TenantSpec

    database = Database(database_url)
    migrate.upgrade(database, load_plugins().migration_locations())  # as `db upgrade` does
    # limits far above what one machine can post: the bench measures routing, not the limiter
    limits = TenantSpec(tenant_id=TENANT, rate_limit_per_second=MAX_RATE, burst=MAX_RATE)
    secret = TenantService(database, SecretCipher(SECRET_KEY)).create(limits)
    now = "2026-01-01 00:00:00.000000"
    rows = (
        (
            uuid.uuid4().hex,
            f"wf-{i}",
            TENANT,
            "EVENT",
            json.dumps({"on_fire": "start", "event_type": f"evt-{i}", "filter_expression": {}}),
            f"evt-{i}",
            "DEPLOYED",
            "deployment",
            1,
            now,
            now,
        )
        for i in range(n)
    )
    mark = placeholder(database.dialect)
    config = f"CAST({mark} AS jsonb)" if database.is_postgres else mark
    marks = ", ".join([mark] * 4 + [config] + [mark] * 6)
    conn = database.engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.executemany(
            "INSERT INTO trigger_index (id, workflow_id, tenant_id, trigger_subtype, trigger_config,"
            " index_key, deployment_status, origin, revision, created_at, updated_at)"
            f" VALUES ({marks})",
            rows,
        )
        cursor.execute("UPDATE gateway_state SET value = 1 WHERE key = 'index_revision'")
        conn.commit()
    finally:
        conn.close()
        database.close()
    return jwt.encode(
        {"tenant_id": TENANT, "exp": int(time.time()) + 86400}, secret, algorithm="HS256"
    )


def routing_cost(database_url: str) -> tuple[float, float]:
    """In-process: seconds to restore the index, and µs per event for phases 1 + 2."""
    import asyncio
    import random

    from highway_triggers.core.event import Event
    from highway_triggers.gateway import Gateway
    from highway_triggers.settings import Settings

    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, auto_migrate=False)
    gateway = Gateway(settings)
    began = time.perf_counter()
    asyncio.run(gateway.manager.sync())
    restore = time.perf_counter() - began
    n = len(gateway.manager.index)
    events = [
        Event("EVENT", (f"evt-{random.randrange(n)}",), {"pad": PAD}, tenant_id=TENANT)
        for _ in range(200_000)
    ]
    began = time.perf_counter()
    for event in events:
        assert len(gateway.router.match(event)) == 1
    per_event = (time.perf_counter() - began) / len(events) * 1e6
    gateway.db.close()
    return restore, per_event


@contextmanager
def bench_database(kind: str, workdir: Path, n: int) -> Iterator[str]:
    """A new database for one size: a SQLite file, or a PostgreSQL database of the test
    server (``HIGHWAY_TEST_POSTGRES_URL``), dropped afterwards."""
    if kind == "postgresql":
        with postgres_database() as url:
            yield url
        return
    db_path = workdir / f"bench-{n}.db"
    try:
        yield f"sqlite:///{db_path}"
    finally:
        db_path.unlink(missing_ok=True)


def gateway_run(
    database_url: str, n: int, args: argparse.Namespace, bare_url: str, workdir: Path
) -> dict[str, float]:
    """Seed N triggers, start the gateway, then alternate wrk runs: bare, gateway, bare, …

    Alternating keeps a noisy neighbour from landing on one side only; the ratio is
    taken per pair and the median pair is reported.
    """
    began = time.perf_counter()
    token = seed(database_url, n)
    seeded = time.perf_counter() - began
    restore, match_us = routing_cost(database_url)
    port = free_port()
    env = {
        "HIGHWAY_DATA_DIR": str(workdir),
        "HIGHWAY_DATABASE_URL": database_url,
        "HIGHWAY_SECRET_KEY": SECRET_KEY,
        "HIGHWAY_PORT": str(port),
        # WARNING unless set: INFO writes the access line of every request (to a file here)
        "HIGHWAY_LOG_LEVEL": os.environ.get("HIGHWAY_LOG_LEVEL", "WARNING"),
    }
    command = [sys.executable, "-m", "highway_triggers.cli", "serve"]
    began = time.perf_counter()
    process = serve([*command, "--workers", str(args.workers)], env, port, workdir)
    startup = time.perf_counter() - began
    url, path = f"http://127.0.0.1:{port}", f"/api/v1/events/{TENANT}"
    pairs = []
    try:
        wrk(url, path, n, token, 2, workdir)  # warm-up
        for _ in range(args.runs):
            ceiling = wrk(bare_url, f"/ingest/{TENANT}", n, "none", args.seconds, workdir)
            result = wrk(url, path, n, token, args.seconds, workdir)
            pairs.append((result["rps"] / ceiling["rps"], ceiling, result))
    finally:
        stop(process)
    ratio, ceiling, result = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]
    result.update(
        pairs=" ".join(f"{p[0]:.2f}" for p in pairs),
        ratio=ratio, bare_rps=ceiling["rps"], bare_p50_ms=ceiling["p50_ms"],
        bare_p99_ms=ceiling["p99_ms"], seed_s=seeded, restore_s=restore,
        startup_s=startup, match_us=match_us,
    )  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument(
        "--runs", type=int, default=5, help="alternating bare/gateway pairs per size"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="gateway processes (PostgreSQL)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"machine: {platform.node()} {os.cpu_count()} cpus, {_cpu()}, Python {platform.python_version()}"
    )
    print(
        f"load: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{args.seconds}s, ~1 KB JSON POST, "
        "unique Idempotency-Key"
    )
    synchronous = os.environ.get("HIGHWAY_SQLITE_SYNCHRONOUS", "FULL").upper()
    database = args.database if args.database == "postgresql" else f"sqlite ({synchronous})"
    level = os.environ.get("HIGHWAY_LOG_LEVEL", "WARNING").upper()
    off = os.environ.get("HIGHWAY_ACCESS_LOG", "true").lower() in ("0", "false", "no", "off")
    access = "access log off" if off or level not in ("INFO", "DEBUG") else "access log on"
    print(f"gateway: {args.workers} worker(s), {database}, {access}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare_process, bare_url = start_bare(workdir)
        results = {}
        try:
            for n in sizes:
                with bench_database(args.database, workdir, n) as database_url:
                    r = results[n] = gateway_run(database_url, n, args, bare_url, workdir)
                print(
                    f"\n{n:,} triggers (median of {args.runs} alternating pairs):\n"
                    f"  bare Starlette endpoint {r['bare_rps']:8.0f} req/s  p50 {r['bare_p50_ms']:.2f} ms"
                    f"  p99 {r['bare_p99_ms']:.2f} ms\n"
                    f"  gateway ingress         {r['rps']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms"
                    f"  p99 {r['p99_ms']:.2f} ms  non-2xx {r['errors']:.0f}\n"
                    f"  ratio to bare {r['ratio']:.2f} (pairs in order: {r['pairs']}) | routing (phases 1+2) {r['match_us']:.2f} µs/event"
                    f" | restore {r['restore_s']:.1f} s, start-up {r['startup_s']:.1f} s"
                )
        finally:
            stop(bare_process)
        plain = plain_uvicorn_rps(workdir, args.seconds)
        first = results[sizes[0]]
        print(
            f"\nreference: the bare endpoint on plain uvicorn (asyncio, h11) {plain:.0f} req/s;"
            f" gateway ingress ({sizes[0]:,} triggers) / that = {first['rps'] / plain:.2f}"
        )
        if len(sizes) >= 2:
            small, large = results[sizes[0]], results[sizes[-1]]
            print(
                f"\nrouting cost {sizes[-1]:,} vs {sizes[0]:,} triggers: "
                f"{large['p50_ms'] / small['p50_ms']:.2f}x p50 latency, "
                f"{small['rps'] / large['rps']:.2f}x time per request (inverse throughput), "
                f"{small['ratio'] / large['ratio']:.2f}x time per request relative to the bare "
                f"endpoint of the same pairs (cancels the machine's drift between sizes), "
                f"{large['match_us'] / small['match_us']:.2f}x in-process phases 1+2"
            )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


if __name__ == "__main__":
    main()
