"""A gateway killed (SIGKILL) between committing a dispatch and delivering it.

The gateway runs as its own process (``highway-triggers serve``); its engine is not
listening yet, so nothing can be delivered before the kill. After a restart, with the
engine up, every committed dispatch reaches the engine exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from highway_triggers.testing import (
    ADMIN_TOKEN,
    GatewayProcess,
    free_port,
    gateway_env,
    running_engine,
    wait_until,
)

WORKFLOW = "wf-crash"


def admin_client(process: GatewayProcess) -> httpx.Client:
    return httpx.Client(
        base_url=process.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )


def dispatches(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get("/api/v1/dispatches", params={"workflow_id": WORKFLOW, "limit": 1000})
    assert answer.status_code == 200, answer.text
    return {d["dispatch_id"]: d for d in answer.json()["dispatches"]}


def fire(client: httpx.Client, n: int) -> str:
    answer = client.post(f"/api/v1/triggers/workflows/{WORKFLOW}/manual", json={"data": {"n": n}})
    assert answer.status_code == 202, answer.text
    (dispatch_id,) = answer.json()["dispatch_ids"]
    return dispatch_id  # type: ignore[no-any-return]


def test_kill_between_commit_and_delivery_delivers_once_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    engine_port = free_port()
    env = gateway_env(
        database_url,
        tmp_path,
        engine="http",
        engine_url=f"http://127.0.0.1:{engine_port}",
        engine_timeout_seconds=0.5,
        dispatch_backoff_base_seconds=0.05,
        dispatch_backoff_max_seconds=0.3,
        dispatch_poll_seconds=0.05,
        dispatch_max_attempts=1000,
        dispatch_lease_seconds=1,  # a row killed mid-delivery is claimed again once it ends
        auto_migrate="true",
    )
    log_path = tmp_path / "gateway.log"

    first = GatewayProcess(env, log_path).start()
    try:
        with admin_client(first) as client:
            deployed = client.post(
                f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
                json={"triggers": [{"type": "MANUAL", "config": {}}]},
            )
            assert deployed.status_code == 200, deployed.text
            # one dispatch that has already failed against the absent engine ...
            tried = fire(client, 1)
            wait_until(lambda: dispatches(client)[tried]["attempts"] >= 1, timeout=10)
            assert dispatches(client)[tried]["status"] in ("failed", "delivering")
            # ... and one killed right after its 202
            fresh = fire(client, 2)
    finally:
        first.kill()
    assert first.process is not None and first.process.returncode == -9

    with running_engine(port=engine_port) as (engine, _):
        assert engine.calls == [], "nothing reached the engine before the restart"
        second = GatewayProcess(env, log_path).start()
        try:
            with admin_client(second) as client:

                def all_delivered() -> dict[str, dict[str, Any]] | None:
                    rows = dispatches(client)
                    return rows if all(r["status"] == "delivered" for r in rows.values()) else None

                rows = wait_until(all_delivered, timeout=20)
                assert set(rows) == {tried, fresh}
                wait_until(lambda: len(engine.starts()) >= 2, timeout=5)
                time.sleep(0.5)  # many dispatcher polls: a duplicate would show up here
                rows = dispatches(client)
        finally:
            second.stop()

        starts = engine.starts()
        keys = [c.idempotency_key for c in starts]
        expected = {rows[tried]["idempotency_key"], rows[fresh]["idempotency_key"]}
        assert len(starts) == 2, f"each dispatch must reach the engine once: {keys}"
        assert set(keys) == expected, "no second, distinct idempotency key for a dispatch"
        accepted = engine.accepted()
        assert set(accepted) == expected
        for dispatch_id, n in ((tried, 1), (fresh, 2)):
            row = rows[dispatch_id]
            assert row["status"] == "delivered"
            assert accepted[row["idempotency_key"]].body["trigger_data"] == {"n": n}
            assert row["execution_id"] == engine._executions[row["idempotency_key"]]
