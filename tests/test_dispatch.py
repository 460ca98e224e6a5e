"""The dispatch outbox against a real HTTP engine.

Every test runs a real gateway (uvicorn, in this process) whose ``http`` engine adapter
talks to a :class:`FakeEngine` on loopback, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from highway_triggers.engines.recorder import RecorderEngine
from highway_triggers.testing import (
    FakeEngine,
    RunningGateway,
    gateway_settings,
    running_gateway,
    wait_until,
)

ENGINE_TOKEN = "engine-token-123"
WORKFLOW = "wf-dispatch"
TENANT = "acme"

StartGateway = Callable[..., RunningGateway]


@pytest.fixture
def start_gateway(
    database_url: str, tmp_path: Path, engine: tuple[FakeEngine, str]
) -> Iterator[StartGateway]:
    """Start a gateway with the ``http`` engine pointed at the fake engine."""
    _, engine_url = engine
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningGateway:
            values: dict[str, Any] = {
                "engine": "http",
                "engine_url": engine_url,
                "engine_token": ENGINE_TOKEN,
                **overrides,
            }
            settings = gateway_settings(database_url, tmp_path, **values)
            return stack.enter_context(running_gateway(settings))

        yield start


def deploy_manual(client: httpx.Client, config: dict[str, Any] | None = None) -> None:
    answer = client.post(
        f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
        json={"tenant_id": TENANT, "triggers": [{"type": "MANUAL", "config": config or {}}]},
    )
    assert answer.status_code == 200, answer.text


def fire(client: httpx.Client, data: dict[str, Any]) -> dict[str, Any]:
    """Fire the manual trigger; the accepted body (one dispatch)."""
    answer = client.post(f"/api/v1/triggers/workflows/{WORKFLOW}/manual", json={"data": data})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "accepted"
    assert len(body["dispatch_ids"]) == 1, body
    return body


def dispatch(client: httpx.Client, dispatch_id: str) -> dict[str, Any]:
    answer = client.get("/api/v1/dispatches", params={"workflow_id": WORKFLOW, "limit": 1000})
    assert answer.status_code == 200, answer.text
    rows = [d for d in answer.json()["dispatches"] if d["dispatch_id"] == dispatch_id]
    assert len(rows) == 1, answer.json()
    return rows[0]


def wait_for_status(
    client: httpx.Client, dispatch_id: str, status: str, timeout: float = 10
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        row = dispatch(client, dispatch_id)
        return row if row["status"] == status else None

    try:
        return wait_until(reached, timeout=timeout)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(
            f"dispatch never became {status}: {dispatch(client, dispatch_id)}"
        ) from None


def assert_error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "error"
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]


def settle() -> None:
    """Give a wrongly repeated delivery the time to show up (many dispatcher polls)."""
    time.sleep(0.4)


# 1. the HTTP engine receives exactly one start


def test_manual_fire_starts_once_on_http_engine(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    client = start_gateway().client()
    deploy_manual(client)

    accepted = fire(client, {"order": 42, "items": ["a", "b"]})
    dispatch_id = accepted["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "delivered")
    settle()

    starts = fake.starts()
    assert len(starts) == 1, starts
    call = starts[0]
    assert call.method == "POST"
    assert call.path == f"/v2/workflows/{WORKFLOW}/execute"
    assert call.body == {
        "trigger_type": "MANUAL",
        "trigger_data": {"order": 42, "items": ["a", "b"]},
        "tenant_id": TENANT,
    }
    assert call.authorization == f"Bearer {ENGINE_TOKEN}"
    assert call.idempotency_key
    assert call.idempotency_key == row["idempotency_key"]
    assert fake.resumes() == []

    row = dispatch(client, dispatch_id)
    assert row["status"] == "delivered"
    assert row["kind"] == "start"
    assert row["attempts"] == 1
    assert row["delivered_at"] is not None
    assert row["execution_id"] == fake._executions[call.idempotency_key]
    assert row["execution_id"].startswith("exec-")

    delivered = client.get("/api/v1/dispatches", params={"status": "delivered"}).json()
    assert [d["dispatch_id"] for d in delivered["dispatches"]] == [dispatch_id]


def test_each_fire_is_its_own_dispatch(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    client = start_gateway().client()
    deploy_manual(client)
    ids = [fire(client, {"n": n})["dispatch_ids"][0] for n in range(5)]
    for dispatch_id in ids:
        wait_for_status(client, dispatch_id, "delivered")
    settle()
    keys = [c.idempotency_key for c in fake.starts()]
    assert len(keys) == 5 and len(set(keys)) == 5
    assert sorted(c.body["trigger_data"]["n"] for c in fake.starts()) == list(range(5))


def test_a_slow_engine_gets_deliveries_in_parallel(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    """One event starting eight workflows commits eight dispatches at once; the commit
    wakes one dispatcher worker, and each worker that takes a job wakes the next, so
    eight starts to an engine that takes 0.5 s each overlap (one by one: 4 s)."""
    fake, _ = engine
    fake.delay = 0.5
    running = start_gateway()
    client = running.client()
    for n in range(8):
        trigger = {"type": "EVENT", "config": {"event_type": "ping"}}
        deployed = client.post(
            f"/api/v1/deployment/workflows/wf-{n}/deploy",
            json={"tenant_id": TENANT, "triggers": [trigger]},
        )
        assert deployed.status_code == 200, deployed.text
    began = time.monotonic()
    result = running.run(running.gateway.router.emit("ping", {}, tenant_id=TENANT))
    assert result.started == 8

    def delivered() -> int:
        listed = client.get("/api/v1/dispatches", params={"status": "delivered"}).json()
        return sum(d["dispatch_id"] in result.dispatch_ids for d in listed["dispatches"])

    wait_until(lambda: delivered() == 8)
    assert time.monotonic() - began < 2.5
    assert len(fake.starts()) == 8


# 2. engine down: retries with the same key, one accepted start once it is back


def test_engine_down_then_back_delivers_once(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    client = start_gateway(dispatch_max_attempts=50).client()
    deploy_manual(client)
    fake.fail_with = 503

    dispatch_id = fire(client, {"n": 1})["dispatch_ids"][0]

    def failed_twice() -> dict[str, Any] | None:
        row = dispatch(client, dispatch_id)
        return row if row["status"] == "failed" and row["attempts"] >= 2 else None

    row = wait_until(failed_twice, timeout=10)
    assert "503" in row["last_error"]
    assert fake.accepted() == {}

    fake.fail_with = None
    row = wait_for_status(client, dispatch_id, "delivered")
    settle()

    starts = fake.starts()
    keys = {c.idempotency_key for c in starts}
    assert keys == {row["idempotency_key"]}, "every attempt must carry the same Idempotency-Key"
    assert len(starts) == dispatch(client, dispatch_id)["attempts"] >= 3
    accepted = fake.accepted()
    assert list(accepted) == [row["idempotency_key"]]
    assert row["execution_id"] == fake._executions[row["idempotency_key"]]
    assert all(c.body["trigger_data"] == {"n": 1} for c in starts)
    assert all(c.authorization == f"Bearer {ENGINE_TOKEN}" for c in starts)


# 3. dead after max attempts, or at once on a 4xx; retry by hand


def test_dead_after_max_attempts_then_manual_retry(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    client = start_gateway(dispatch_max_attempts=3).client()
    deploy_manual(client)
    fake.fail_with = 503

    dispatch_id = fire(client, {"n": 7})["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "dead")
    settle()
    assert row["attempts"] == 3
    assert "503" in row["last_error"]
    assert len(fake.starts()) == 3, "a dead dispatch is not tried again on its own"
    assert client.get("/api/v1/dispatches", params={"status": "dead"}).json()["count"] == 1

    fake.fail_with = None
    retried = client.post(f"/api/v1/dispatches/{dispatch_id}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["dispatch_id"] == dispatch_id
    assert retried.json()["previous_status"] == "dead"

    row = wait_for_status(client, dispatch_id, "delivered")
    settle()
    assert row["attempts"] == 1, "a retry by hand starts a fresh set of attempts"
    starts = fake.starts()
    assert len(starts) == 4
    assert {c.idempotency_key for c in starts} == {row["idempotency_key"]}
    assert list(fake.accepted()) == [row["idempotency_key"]]
    assert row["execution_id"] == fake._executions[row["idempotency_key"]]

    again = client.post(f"/api/v1/dispatches/{dispatch_id}/retry")
    assert_error(again, 409, "NOT_RETRYABLE")
    settle()
    assert len(fake.starts()) == 4
    assert dispatch(client, dispatch_id)["status"] == "delivered"

    assert_error(
        client.post("/api/v1/dispatches/no-such-dispatch/retry"), 404, "DISPATCH_NOT_FOUND"
    )


@pytest.mark.parametrize("status", [400, 404])
def test_client_error_from_engine_is_dead_at_once(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str], status: int
) -> None:
    fake, _ = engine
    client = start_gateway(dispatch_max_attempts=5).client()
    deploy_manual(client)
    fake.fail_with = status

    dispatch_id = fire(client, {"n": 1})["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "dead")
    settle()
    assert row["attempts"] == 1
    assert str(status) in row["last_error"]
    assert len(fake.starts()) == 1

    fake.fail_with = None
    assert client.post(f"/api/v1/dispatches/{dispatch_id}/retry").status_code == 202
    row = wait_for_status(client, dispatch_id, "delivered")
    assert list(fake.accepted()) == [row["idempotency_key"]]


def test_retry_endpoint_needs_admin(start_gateway: StartGateway) -> None:
    running = start_gateway()
    anonymous = running.client(token=None)
    assert_error(anonymous.post("/api/v1/dispatches/x/retry"), 401, "UNAUTHORIZED")
    assert_error(anonymous.get("/api/v1/dispatches"), 401, "UNAUTHORIZED")
    wrong = running.client(token="not-the-admin-token")
    assert_error(wrong.post("/api/v1/dispatches/x/retry"), 401, "UNAUTHORIZED")


# 4. on_fire: resume_or_start and resume_only


def paused_runs() -> list[dict[str, Any]]:
    """Paused runs out of order, plus a newer run that is not paused."""
    return [
        {"execution_id": "run-old", "status": "paused", "started_at": "2024-01-01T08:00:00Z"},
        {
            "execution_id": "run-newest",
            "status": "paused",
            "started_at": "2024-06-01T08:00:00+00:00",
        },
        {"execution_id": "run-middle", "status": "waiting", "started_at": "2024-03-01T08:00:00Z"},
        {"execution_id": "run-active", "status": "running", "started_at": "2024-12-01T08:00:00Z"},
    ]


def test_resume_or_start_resumes_the_most_recent_paused_run(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    fake.paused = {
        WORKFLOW: paused_runs(),
        "other-workflow": [
            {
                "execution_id": "run-elsewhere",
                "status": "paused",
                "started_at": "2025-01-01T00:00:00Z",
            }
        ],
    }
    client = start_gateway().client()
    deploy_manual(client, {"on_fire": "resume_or_start"})

    accepted = fire(client, {"answer": "yes"})
    dispatch_id = accepted["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "delivered")
    settle()

    assert fake.starts() == []
    resumes = fake.resumes()
    assert len(resumes) == 1, resumes
    resume = resumes[0]
    assert resume.path == "/v2/executions/run-newest/resume"
    assert resume.body["resume_data"] == {"answer": "yes"}
    assert resume.body["interaction_id"]
    assert (resume.body["event_name"], resume.body["correlation_key"]) == (None, None)
    assert resume.idempotency_key == row["idempotency_key"]
    assert resume.authorization == f"Bearer {ENGINE_TOKEN}"
    queries = [c for c in fake.calls if c.method == "GET"]
    assert [c.path for c in queries] == [f"/v2/workflows/{WORKFLOW}/executions"]
    assert queries[0].authorization == f"Bearer {ENGINE_TOKEN}"
    assert row["execution_id"] == "run-newest"


def test_resume_or_start_starts_when_nothing_is_paused(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    fake.paused = {
        WORKFLOW: [
            {
                "execution_id": "run-active",
                "status": "running",
                "started_at": "2024-12-01T08:00:00Z",
            }
        ]
    }
    client = start_gateway().client()
    deploy_manual(client, {"on_fire": "resume_or_start"})

    dispatch_id = fire(client, {"n": 1})["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "delivered")
    settle()

    assert fake.resumes() == []
    starts = fake.starts()
    assert len(starts) == 1
    assert starts[0].body == {
        "trigger_type": "MANUAL",
        "trigger_data": {"n": 1},
        "tenant_id": TENANT,
    }
    assert starts[0].idempotency_key == row["idempotency_key"]
    assert row["execution_id"] == fake._executions[row["idempotency_key"]]


def test_resume_only_without_paused_run_is_skipped(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    client = start_gateway().client()
    deploy_manual(client, {"on_fire": "resume_only"})

    dispatch_id = fire(client, {"n": 1})["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "skipped")
    settle()

    assert row["attempts"] == 1
    assert row["execution_id"] is None
    assert fake.starts() == []
    assert fake.resumes() == []
    assert [c.path for c in fake.calls] == [f"/v2/workflows/{WORKFLOW}/executions"]
    assert dispatch(client, dispatch_id)["status"] == "skipped", "a skipped dispatch stays skipped"

    # a run paused later: a retry by hand resumes it
    fake.paused = {WORKFLOW: paused_runs()}
    assert (
        client.post(f"/api/v1/dispatches/{dispatch_id}/retry").json()["previous_status"]
        == "skipped"
    )
    row = wait_for_status(client, dispatch_id, "delivered")
    assert fake.starts() == []
    assert [c.path for c in fake.resumes()] == ["/v2/executions/run-newest/resume"]
    assert row["execution_id"] == "run-newest"


def test_resume_only_resumes_when_paused(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    fake.paused = {WORKFLOW: paused_runs()}
    client = start_gateway().client()
    deploy_manual(client, {"on_fire": "resume_only"})

    dispatch_id = fire(client, {"n": 1})["dispatch_ids"][0]
    row = wait_for_status(client, dispatch_id, "delivered")
    assert fake.starts() == []
    assert [c.path for c in fake.resumes()] == ["/v2/executions/run-newest/resume"]
    assert row["execution_id"] == "run-newest"


def test_paused_runs_query_failing_is_retried(
    start_gateway: StartGateway, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    client = start_gateway(dispatch_max_attempts=50).client()
    deploy_manual(client, {"on_fire": "resume_or_start"})
    fake.fail_with = 503

    dispatch_id = fire(client, {"n": 1})["dispatch_ids"][0]
    wait_until(lambda: dispatch(client, dispatch_id)["attempts"] >= 2, timeout=10)
    assert fake.starts() == [] and fake.resumes() == []
    fake.paused = {WORKFLOW: paused_runs()}
    fake.fail_with = None

    row = wait_for_status(client, dispatch_id, "delivered")
    settle()
    assert fake.starts() == [], "an unanswered paused-runs query must not fall back to a start"
    assert [c.path for c in fake.resumes()] == ["/v2/executions/run-newest/resume"]
    assert row["execution_id"] == "run-newest"


@pytest.mark.parametrize("on_fire", ["resume_or_start", "resume_only"])
def test_an_engine_that_cannot_list_paused_runs_refuses_resuming_triggers(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch, on_fire: str
) -> None:
    monkeypatch.setattr(RecorderEngine, "lists_paused_runs", False)
    client = start_gateway(engine="recorder").client()
    answer = client.post(
        f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
        json={"triggers": [{"type": "MANUAL", "config": {"on_fire": on_fire}}]},
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "triggers[0].config.on_fire"
    assert "lists paused runs" in error["message"]
    single = client.post(
        "/api/v1/triggers",
        json={"workflow_id": WORKFLOW, "type": "MANUAL", "config": {"on_fire": on_fire}},
    )
    assert single.status_code == 422, single.text
    assert single.json()["errors"][0]["field"] == "trigger.config.on_fire"
    deploy_manual(client, {"on_fire": "start"})
