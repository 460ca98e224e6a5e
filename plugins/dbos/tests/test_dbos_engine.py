"""The ``dbos`` engine against a real DBOS application (see dbos_server.py): starts, a
workflow waiting in ``DBOS.recv`` resumed by an event, idempotency (a restarted gateway
enqueueing a start again), a gateway killed between DBOS's enqueue and its own record, an
unreachable database, an unknown queue, and the deploy refused for ``on_fire`` that needs
paused runs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from dbos_server import Dbos, Gate

from highway_triggers.testing import (
    ADMIN_TOKEN,
    GatewayProcess,
    RunningGateway,
    dispatch_row,
    gateway_env,
    gateway_settings,
    running_gateway,
    settled_dispatch,
    tenant_token,
    wait_for_wait,
    wait_until,
)


@pytest.fixture
def start(dbos: Dbos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start an in-process gateway (SQLite) whose ``dbos`` engine uses ``database_url``."""
    with ExitStack() as stack:

        def started(database_url: str = dbos.database_url) -> RunningGateway:
            monkeypatch.setenv("HIGHWAY_DBOS_DATABASE_URL", database_url)
            url = f"sqlite:///{tmp_path / 'gateway.db'}"
            settings = gateway_settings(url, tmp_path, engine="dbos", dispatch_poll_seconds=0.05)
            gateway = stack.enter_context(running_gateway(settings))
            gateway.deploy(
                "test:echo", {"type": "MANUAL", "config": {}}
            )  # a tenant-less deploy per gateway: each test's database is its own
            return gateway

        yield started


def admin(process: GatewayProcess) -> httpx.Client:
    return httpx.Client(
        base_url=process.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )


def fire(client: httpx.Client, workflow: str, data: dict[str, Any], key: str) -> str:
    answer = client.post(
        f"/api/v1/triggers/workflows/{workflow}/manual",
        json={"data": data},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code == 202, answer.text
    (dispatch_id,) = answer.json()["dispatch_ids"]
    return str(dispatch_id)


def gated(dbos: Dbos) -> tuple[Gate, str]:
    """A gate in front of the application's PostgreSQL, and its database URL through it."""
    url = urlsplit(dbos.database_url)
    gate = Gate((url.hostname or "127.0.0.1", url.port or 5432))
    return gate, url._replace(netloc=f"{url.username}@127.0.0.1:{gate.port}").geturl()


def start_directly(gateway: RunningGateway, marker: str, key: str) -> str:
    started: str = gateway.run(
        gateway.gateway.engine.start(
            "test:echo",
            trigger_type="MANUAL",
            trigger_data={"marker": marker},
            tenant_id=None,
            idempotency_key=key,
        )
    )
    return started


def test_a_delivery_starts_one_run_that_completes_with_the_trigger_data(
    dbos: Dbos, start: Any
) -> None:
    gateway = start()
    marker = uuid.uuid4().hex
    row = settled_dispatch(
        gateway.admin, fire(gateway.admin, "test:echo", {"marker": marker}, marker)
    )
    assert row["status"] == "delivered", row
    assert dbos.result(row["execution_id"]) == {
        "trigger_type": "MANUAL",
        "trigger_data": {"marker": marker},
        "tenant_id": None,
    }
    # the same Idempotency-Key again: a duplicate, no second dispatch nor run
    again = gateway.admin.post(
        "/api/v1/triggers/workflows/test:echo/manual",
        json={"data": {"marker": marker}},
        headers={"Idempotency-Key": marker},
    )
    assert again.status_code == 202 and again.json()["dispatch_ids"] == [], again.text
    time.sleep(0.5)
    assert dbos.runs("echo", marker) == [row["execution_id"]]


def test_the_same_idempotency_key_makes_one_run_even_after_it_completed(
    dbos: Dbos, start: Any
) -> None:
    """What a gateway restarted between DBOS's enqueue and its own record does: enqueue
    the same start again, with the same key, maybe after the run completed."""
    gateway = start()
    marker, key = uuid.uuid4().hex, f"start:t:{uuid.uuid4().hex}"
    first = start_directly(gateway, marker, key)
    assert first == key
    done = dbos.result(first)
    assert start_directly(gateway, "other", key) == first
    assert start_directly(gateway, marker, key) == first
    time.sleep(0.5)
    assert dbos.runs("echo", marker) == [first]
    assert dbos.runs("echo", "other") == []
    assert dbos.result(first) == done


def test_a_workflow_waiting_in_recv_is_resumed_by_an_event_with_its_correlation_key(
    dbos: Dbos, start: Any
) -> None:
    gateway = start()
    client = gateway.admin
    tenant = tenant_token(gateway, "acme")
    gateway.deploy("test:waiting", {"type": "MANUAL", "config": {}})
    marker = uuid.uuid4().hex
    order = f"order-{marker[:8]}"
    data = {"marker": marker, "gateway": gateway.url, "token": ADMIN_TOKEN, "order": order}
    run_id = settled_dispatch(client, fire(client, "test:waiting", data, marker))["execution_id"]
    wait_for_wait(client, "acme", run_id)
    event = client.post(
        "/api/v1/events/acme",
        headers={"Authorization": f"Bearer {tenant}"},
        json={"event_name": "reply", "correlation_key": order, "payload": {"text": "approved"}},
    )
    assert event.status_code == 202, event.text
    done = dbos.result(run_id)
    assert done["reply"] == {"text": "approved"}
    assert done["trigger"]["trigger_data"]["marker"] == marker
    assert dbos.runs("waiting", marker) == [run_id]


def test_a_gateway_killed_after_dbos_accepted_a_start_makes_one_run(
    dbos: Dbos, tmp_path: Path
) -> None:
    """DBOS's enqueue committed but its answer lost (the gate holds it): the gateway is
    SIGKILLed before it records the start, restarted on its database, and enqueues the
    start again with the same key, which is the same single workflow."""
    gate, gated_url = gated(dbos)
    gate.open()
    env = gateway_env(
        f"sqlite:///{tmp_path / 'gateway.db'}",
        tmp_path,
        engine="dbos",
        dbos_database_url=gated_url,
        engine_timeout_seconds=1,
        dispatch_lease_seconds=2,  # the killed gateway's row is claimed again once it ends
        dispatch_poll_seconds=0.05,
        auto_migrate="true",
    )
    log_path, marker = tmp_path / "gateway.log", uuid.uuid4().hex
    first = GatewayProcess(env, log_path).start()
    try:
        with admin(first) as client:
            deployed = client.post(
                "/api/v1/deployment/workflows/test:echo/deploy",
                json={"triggers": [{"type": "MANUAL", "config": {}}]},
            )
            assert deployed.status_code == 200, deployed.text
            # a first start connects the gateway's DBOS client (and knows the queue)
            warm = fire(client, "test:echo", {"marker": f"warm-{marker}"}, f"warm-{marker}")
            assert settled_dispatch(client, warm)["status"] == "delivered"
            gate.hold_commits = True
            dispatch_id = fire(client, "test:echo", {"marker": marker}, marker)
            (run_id,) = wait_until(lambda: dbos.runs("echo", marker), timeout=15)
            assert dispatch_row(client, dispatch_id)["status"] != "delivered"
    finally:
        first.kill()
    gate.hold_commits = False
    second = GatewayProcess(env, log_path).start()
    try:
        with admin(second) as client:
            row = settled_dispatch(client, dispatch_id)
            assert (row["status"], row["execution_id"]) == ("delivered", run_id), row
        assert dbos.result(run_id) == {
            "trigger_type": "MANUAL",
            "trigger_data": {"marker": marker},
            "tenant_id": None,
        }
        time.sleep(0.5)
        assert dbos.runs("echo", marker) == [run_id]
    finally:
        second.stop()
        gate.close()


def test_an_unreachable_database_is_retried_until_it_is_back(dbos: Dbos, start: Any) -> None:
    gate, gated_url = gated(dbos)
    gateway = start(gated_url)
    try:
        marker = uuid.uuid4().hex
        dispatch_id = fire(gateway.admin, "test:echo", {"marker": marker}, marker)
        wait_until(lambda: dispatch_row(gateway.admin, dispatch_id)["attempts"] >= 2, timeout=20)
        row = dispatch_row(gateway.admin, dispatch_id)
        assert row["status"] in ("failed", "delivering"), row
        assert "DBOS" in (row["last_error"] or ""), row
        assert dbos.runs("echo", marker) == []
        gate.open()
        row = settled_dispatch(gateway.admin, dispatch_id)
        assert row["status"] == "delivered", row
        assert dbos.result(row["execution_id"])["trigger_data"] == {"marker": marker}
        assert dbos.runs("echo", marker) == [row["execution_id"]]
    finally:
        gate.close()


def test_an_unknown_queue_fails_the_dispatch_at_once(start: Any) -> None:
    gateway = start()
    gateway.deploy("nowhere:echo", {"type": "MANUAL", "config": {}})
    row = settled_dispatch(gateway.admin, fire(gateway.admin, "nowhere:echo", {"n": 1}, "k1"))
    assert (row["status"], row["attempts"]) == ("dead", 1), row
    assert "DBOS has no queue 'nowhere'" in row["last_error"]


@pytest.mark.parametrize("on_fire", ["resume_or_start", "resume_only"])
def test_on_fire_resuming_paused_runs_is_refused_at_deploy(start: Any, on_fire: str) -> None:
    gateway = start()
    answer = gateway.admin.post(
        "/api/v1/deployment/workflows/test:echo/deploy",
        json={"triggers": [{"type": "MANUAL", "config": {"on_fire": on_fire}}]},
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "triggers[0].config.on_fire"
