"""The ``prefect`` engine against a real Prefect server (see prefect_server.py): starts,
pause and suspend resumed by events, idempotency, a crash between Prefect's answer and
the gateway's record, an outage, and what Prefect refuses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect_server import Prefect, Proxy

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

FAST = {
    "dispatch_backoff_base_seconds": 0.1,
    "dispatch_backoff_max_seconds": 0.5,
    "dispatch_poll_seconds": 0.05,
}


@pytest.fixture
def start(prefect: Prefect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start an in-process gateway (SQLite) whose ``prefect`` engine calls ``api_url``."""
    with ExitStack() as stack:

        def started(api_url: str = prefect.api_url, **overrides: Any) -> RunningGateway:
            monkeypatch.setenv("HIGHWAY_PREFECT_API_URL", api_url)
            url = f"sqlite:///{tmp_path / 'gateway.db'}"
            settings = gateway_settings(url, tmp_path, engine="prefect", **FAST, **overrides)
            return stack.enter_context(running_gateway(settings))

        yield started


def fire(client: httpx.Client, workflow: str, data: dict[str, Any], key: str) -> str:
    answer = client.post(
        f"/api/v1/triggers/workflows/{workflow}/manual",
        json={"data": data},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code == 202, answer.text
    (dispatch_id,) = answer.json()["dispatch_ids"] or [None]
    return str(dispatch_id)


def admin(process: GatewayProcess) -> httpx.Client:
    return httpx.Client(
        base_url=process.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )


def deploy(client: httpx.Client, workflow: str) -> None:
    answer = client.post(
        f"/api/v1/deployment/workflows/{workflow}/deploy",
        json={"tenant_id": "acme", "triggers": [{"type": "MANUAL", "config": {}}]},
    )
    assert answer.status_code == 200, answer.text


def waiting_run(gateway: RunningGateway, workflow: str, marker: str) -> tuple[str, str]:
    """Deploy and fire ``workflow`` (a waiting flow) with ``marker``; its run's id and the
    correlation key of the wait it registered, once it has."""
    client = gateway.admin
    deploy(client, workflow)
    order = f"order-{marker[:8]}"
    data = {"marker": marker, "gateway": gateway.url, "token": ADMIN_TOKEN, "order": order}
    run_id = settled_dispatch(client, fire(client, workflow, data, key=marker))["execution_id"]
    wait_for_wait(client, "acme", run_id)
    return str(run_id), order


def reply(client: httpx.Client, tenant: str, order: str, payload: dict[str, Any]) -> str:
    """Send tenant ``acme``'s ``reply`` event for ``order``; its one dispatch's id."""
    event = client.post(
        "/api/v1/events/acme",
        headers={"Authorization": f"Bearer {tenant}"},
        json={"event_name": "reply", "correlation_key": order, "payload": payload},
    )
    assert event.status_code == 202, event.text
    (dispatch_id,) = event.json()["dispatch_ids"]
    return str(dispatch_id)


def test_a_delivery_starts_one_run_that_completes_with_the_trigger_data(
    prefect: Prefect, start: Any
) -> None:
    client = start().client()
    deploy(client, "echo:test")
    marker = uuid.uuid4().hex
    first = fire(client, "echo:test", {"marker": marker, "n": 1.0}, key=marker)
    row = settled_dispatch(client, first)
    assert row["status"] == "delivered", row
    run_id = row["execution_id"]
    trigger = prefect.completed_with(run_id)
    assert trigger == {
        "trigger_type": "MANUAL",
        "trigger_data": {"marker": marker, "n": 1.0},
        "tenant_id": "acme",
    }
    # the same idempotency key again: the same dispatch, the same single run
    again = client.post(
        "/api/v1/triggers/workflows/echo:test/manual",
        json={"data": {"marker": marker, "n": 1.0}},
        headers={"Idempotency-Key": marker},
    )
    assert again.status_code in (200, 202), again.text
    time.sleep(0.3)
    assert [r["id"] for r in prefect.runs("echo:test", marker)] == [run_id]


def test_the_same_idempotency_key_makes_one_run(prefect: Prefect, start: Any) -> None:
    """Two dispatches carrying one key (a redelivery after the gateway forgot it)."""
    gateway = start()
    deployment_id = prefect.deployment_id("echo:test")
    marker = uuid.uuid4().hex
    engine = gateway.gateway.engine
    runs = [
        gateway.run(
            engine.start(
                workflow_id,
                trigger_type="MANUAL",
                trigger_data={"marker": marker},
                tenant_id=None,
                idempotency_key=f"start:t:{marker}",
            )
        )
        for workflow_id in ("echo:test", deployment_id)
    ]
    assert runs[0] == runs[1]
    assert [r["id"] for r in prefect.runs("echo:test", marker)] == [runs[0]]


@pytest.mark.parametrize("flow", ["paused", "suspended"])
def test_a_waiting_run_is_resumed_by_an_event_with_its_correlation_key(
    prefect: Prefect, start: Any, flow: str
) -> None:
    gateway = start()
    tenant = tenant_token(gateway, "acme")
    workflow, marker = f"{flow}:test", uuid.uuid4().hex
    run_id, order = waiting_run(gateway, workflow, marker)
    reply(gateway.admin, tenant, order, {"text": "approved"})
    done = prefect.completed_with(run_id, timeout=45)
    assert done["reply"] == "approved"
    assert done["trigger"]["trigger_data"]["marker"] == marker
    assert len(prefect.runs(workflow, marker)) == 1


def test_an_unknown_deployment_fails_the_dispatch_at_once(start: Any) -> None:
    client = start().client()
    deploy(client, "echo:nowhere")
    row = settled_dispatch(client, fire(client, "echo:nowhere", {"n": 1}, key="k1"))
    assert (row["status"], row["attempts"]) == ("dead", 1), row
    assert "404" in row["last_error"] and "Deployment not found" in row["last_error"]


def test_parameters_the_deployments_schema_refuses_fail_the_dispatch_at_once(
    prefect: Prefect, start: Any
) -> None:
    """Prefect answers 409 to parameters that fail the deployment's schema (a status the
    core's http engine would retry): the dispatch is dead after one attempt, with
    Prefect's message, and Prefect made no run."""
    client = start().client()
    deploy(client, "typed:test")
    marker = uuid.uuid4().hex
    data = {"marker": marker, "quantity": "many"}
    row = settled_dispatch(client, fire(client, "typed:test", data, key=marker))
    assert (row["status"], row["attempts"], row["execution_id"]) == ("dead", 1, None), row
    refused = "Prefect answered 409: Error creating flow run: Validation failed for field"
    assert f"{refused} 'trigger.trigger_data.quantity'" in row["last_error"], row
    assert prefect.runs("typed:test", marker) == []


@pytest.mark.parametrize("flow", ["paused", "suspended"])
def test_a_resume_whose_input_fails_the_runs_schema_fails_the_dispatch_at_once(
    prefect: Prefect, start: Any, flow: str
) -> None:
    """Prefect answers 200 with ``REJECT`` to run input that fails the run's schema: the
    dispatch is dead after one attempt, with Prefect's reason, and the run stays paused.

    The event is sent once the run is paused and has saved its input's schema: sooner,
    Prefect answers ``ABORT`` (not paused yet) or ``REJECT`` "Run input schema not found."
    (the adapter's ``SCHEMA_NOT_YET_SAVED``), both retried, and the first attempt would
    not meet the schema's REJECT."""
    gateway = start()
    tenant = tenant_token(gateway, "acme")
    run_id, order = waiting_run(gateway, f"{flow}:test", uuid.uuid4().hex)
    prefect.waiting_for_input(run_id)
    row = settled_dispatch(gateway.admin, reply(gateway.admin, tenant, order, {"text": 42}))
    assert (row["status"], row["attempts"]) == ("dead", 1), row
    rejected = "Prefect rejected the resume: Reason: Validation failed for field 'text'."
    assert f"{rejected} Failure reason: 42 is not of type 'string'" in row["last_error"], row
    assert prefect.state(run_id) == {"paused": "Paused", "suspended": "Suspended"}[flow]


def test_a_resume_of_a_run_that_ended_fails_the_dispatch_at_once(
    prefect: Prefect, start: Any
) -> None:
    """Prefect aborts a resume of a run that is not paused. A run still to pause is
    retried; one that completed never will be: the dispatch is dead after one attempt,
    naming the run's state, and leaves no resume marker on the run."""
    gateway = start()
    client, tenant = gateway.admin, tenant_token(gateway, "acme")
    deploy(client, "echo:test")
    marker = uuid.uuid4().hex
    run_id = settled_dispatch(client, fire(client, "echo:test", {"marker": marker}, key=marker))[
        "execution_id"
    ]
    prefect.completed_with(run_id)
    order = f"order-{marker[:8]}"
    wait = {"tenant_id": "acme", "workflow_run_id": run_id, "event_name": "reply"}
    registered = client.post("/api/v1/waits", json={**wait, "correlation_key": order})
    assert registered.status_code in (200, 201), registered.text
    row = settled_dispatch(client, reply(client, tenant, order, {"text": "late"}))
    assert (row["status"], row["attempts"]) == ("dead", 1), row
    assert f"flow run {run_id} is COMPLETED: it can no longer be resumed" in row["last_error"]
    inputs = prefect.api.post(f"/flow_runs/{run_id}/input/filter", json={"prefix": "highway-"})
    assert inputs.status_code == 200 and inputs.json() == [], inputs.text


def test_a_resume_of_a_run_prefect_does_not_know_is_not_retried(
    prefect: Prefect, start: Any
) -> None:
    """Prefect's 404 for an unknown flow run is final (not retryable), and says so."""
    gateway = start()
    engine = gateway.gateway.engine
    with pytest.raises(Exception) as refused:
        gateway.run(
            engine.resume(
                str(uuid.uuid4()),
                resume_data={},
                interaction_id="w",
                idempotency_key="resume:w",
            )
        )
    assert getattr(refused.value, "retryable", None) is False, refused.value
    assert "404" in str(refused.value)


def test_an_outage_is_retried_until_prefect_is_back(prefect: Prefect, start: Any) -> None:
    proxy = Proxy(prefect.api_url)
    proxy.server.start()
    try:
        proxy.down = True
        client = start(proxy.url).client()
        deploy(client, "echo:test")
        marker = uuid.uuid4().hex
        dispatch_id = fire(client, "echo:test", {"marker": marker}, key=marker)
        wait_until(lambda: dispatch_row(client, dispatch_id)["attempts"] >= 3, timeout=20)
        assert dispatch_row(client, dispatch_id)["status"] in ("failed", "delivering")
        assert "503" in (dispatch_row(client, dispatch_id)["last_error"] or "")
        proxy.down = False
        row = settled_dispatch(client, dispatch_id)
        assert row["status"] == "delivered"
        assert [r["id"] for r in prefect.runs("echo:test", marker)] == [row["execution_id"]]
    finally:
        proxy.server.stop()


def test_a_busy_prefect_is_retried_within_the_attempt(prefect: Prefect, start: Any) -> None:
    """Prefect's 503 of a write its SQLite database refused: retried within the call."""
    proxy = Proxy(prefect.api_url)
    proxy.server.start()
    try:
        client = start(proxy.url).client()
        deploy(client, "echo:test")
        proxy.busy = 3
        marker = uuid.uuid4().hex
        row = settled_dispatch(client, fire(client, "echo:test", {"marker": marker}, key=marker))
        assert (row["status"], row["attempts"], proxy.refused) == ("delivered", 1, 3), row
        assert [r["id"] for r in prefect.runs("echo:test", marker)] == [row["execution_id"]]
    finally:
        proxy.server.stop()


def test_a_gateway_killed_after_prefect_accepted_a_start_makes_one_run(
    prefect: Prefect, tmp_path: Path
) -> None:
    proxy = Proxy(prefect.api_url)
    proxy.server.start()
    proxy.hold_starts = True
    env = gateway_env(
        f"sqlite:///{tmp_path / 'gateway.db'}",
        tmp_path,
        engine="prefect",
        prefect_api_url=proxy.url,
        engine_timeout_seconds=1,
        dispatch_lease_seconds=2,  # the killed gateway's row is claimed again once it ends
        auto_migrate="true",
        **FAST,
    )
    marker = uuid.uuid4().hex
    first = GatewayProcess(env, tmp_path / "gateway.log").start()
    try:
        with admin(first) as client:
            deploy(client, "echo:test")
            dispatch_id = fire(client, "echo:test", {"marker": marker}, key=marker)
        assert proxy.held.wait(20), "Prefect accepted the start"
        (run,) = prefect.runs("echo:test", marker)
    finally:
        first.kill()
    proxy.hold_starts = False
    second = GatewayProcess(env, tmp_path / "gateway.log").start()
    try:
        with admin(second) as client:
            row = settled_dispatch(client, dispatch_id)
        assert row["status"] == "delivered" and row["execution_id"] == run["id"], row
        assert [r["id"] for r in prefect.runs("echo:test", marker)] == [run["id"]]
    finally:
        second.stop()
        proxy.server.stop()
