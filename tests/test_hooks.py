"""Hooks: ``POST /api/v1/hooks/{token}`` resumes the runs waiting on a token.

A real gateway whose ``http`` engine adapter talks to a :class:`FakeEngine` on loopback,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx

from highway_triggers.testing import FakeEngine, RunningGateway, tenant_token, wait_until

EngineGateway = tuple[RunningGateway, FakeEngine]


def register(gateway: RunningGateway, expect: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"tenant_id": "acme", "workflow_run_id": "run-1", "event_name": "hook", **fields}
    answer = gateway.client().post("/api/v1/waits", json=body)
    assert answer.status_code == expect, answer.text
    wait: dict[str, Any] = answer.json()
    return wait


def hook(gateway: RunningGateway, token: str, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return gateway.client(None).post(f"/api/v1/hooks/{token}", json=body, headers=headers)


def accepted(response: httpx.Response, delivered_to: int) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "accepted" and body["delivered_to"] == delivered_to, body
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def wait_status(gateway: RunningGateway, wait_id: str) -> str:
    status: str = gateway.client().get(f"/api/v1/waits/{wait_id}").json()["status"]
    return status


def test_hook_resumes_the_run_waiting_on_its_token(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    wait = register(gateway, workflow_run_id="run-7", token="approval:doc-42")
    assert wait["hook_url"].endswith("/api/v1/hooks/approval%3Adoc-42")

    accepted(hook(gateway, "approval:doc-42", {"approved": True}), 1)
    (resume,) = wait_until(engine.resumes)
    assert resume.path == "/v2/executions/run-7/resume"
    assert resume.body == {
        "resume_data": {"approved": True},
        "interaction_id": wait["wait_id"],
        "event_name": "hook",
        "correlation_key": None,
    }
    assert resume.idempotency_key == f"resume:{wait['wait_id']}"
    assert wait_status(gateway, wait["wait_id"]) == "consumed"
    (dispatch,) = gateway.client().get("/api/v1/dispatches").json()["dispatches"]
    assert dispatch["tenant_id"] == "acme"  # the wait's tenant, though a hook names none

    refused(hook(gateway, "approval:doc-42", {"approved": False}), 404, "NO_WAITING_WORKFLOW")
    time.sleep(0.5)
    assert len(engine.resumes()) == 1


def test_unknown_token_and_bad_bodies(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    refused(hook(gateway, "nobody-waits", {}), 404, "NO_WAITING_WORKFLOW")
    register(gateway, token="t-1")
    refused(hook(gateway, "t-1", [1, 2]), 400, "MALFORMED_BODY")
    answer = gateway.client(None).post("/api/v1/hooks/t-1", content=b"{not json")
    refused(answer, 400, "MALFORMED_BODY")
    accepted(gateway.client(None).post("/api/v1/hooks/t-1"), 1)  # an empty body is {}
    (resume,) = wait_until(engine.resumes)
    assert resume.body["resume_data"] == {}


def test_multi_use_hook_receives_every_payload_in_order(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    engine.delay = 0.1  # deliveries would overlap if the dispatcher did not chain them
    wait = register(gateway, token="slack_messages:C123", multi_use=True, timeout_seconds=3)
    for n in range(3):
        accepted(hook(gateway, "slack_messages:C123", {"n": n}), 1)
    assert wait_status(gateway, wait["wait_id"]) == "open"

    # the timeout closes the loop, after every payload
    resumes = wait_until(lambda: len(engine.resumes()) == 4 and engine.resumes(), timeout=15)
    assert [c.body["resume_data"] for c in resumes] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
        {"status": "timeout"},
    ]
    assert {c.body["interaction_id"] for c in resumes} == {wait["wait_id"]}
    for earlier, later in itertools.pairwise(resumes):
        assert earlier.answered_at is not None and earlier.answered_at <= later.received_at
    assert len({c.idempotency_key for c in resumes}) == 4
    assert wait_status(gateway, wait["wait_id"]) == "expired"
    refused(hook(gateway, "slack_messages:C123", {"n": 3}), 404, "NO_WAITING_WORKFLOW")


def test_multi_use_hook_until_cancelled(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    wait = register(gateway, token="stream", multi_use=True)
    accepted(hook(gateway, "stream", {"n": 0}), 1)
    assert gateway.client().delete(f"/api/v1/waits/{wait['wait_id']}").status_code == 200
    refused(hook(gateway, "stream", {"n": 1}), 404, "NO_WAITING_WORKFLOW")
    (resume,) = wait_until(engine.resumes)
    assert resume.body["resume_data"] == {"n": 0}


def test_idempotency_key_is_per_token(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    register(gateway, token="feed-a", multi_use=True)
    register(gateway, token="feed-b", multi_use=True, workflow_run_id="run-2")
    first = accepted(hook(gateway, "feed-a", {"n": 1}, key="delivery-1"), 1)
    again = accepted(hook(gateway, "feed-a", {"n": 1}, key="delivery-1"), 0)
    assert again["duplicate"] and not first["duplicate"]
    accepted(hook(gateway, "feed-b", {"n": 1}, key="delivery-1"), 1)
    wait_until(lambda: len(engine.resumes()) == 2)
    time.sleep(0.5)
    assert len(engine.resumes()) == 2


def test_a_token_resumes_every_run_of_its_tenant_waiting_on_it(
    engine_gateway: EngineGateway,
) -> None:
    gateway, engine = engine_gateway
    register(gateway, token="deploy:prod", workflow_run_id="run-1")
    register(gateway, token="deploy:prod", workflow_run_id="run-2")
    body = {
        "tenant_id": "globex",
        "workflow_run_id": "run-3",
        "event_name": "hook",
        "token": "deploy:prod",
    }
    refused(gateway.client().post("/api/v1/waits", json=body), 409, "TOKEN_IN_USE")
    accepted(hook(gateway, "deploy:prod", {}), 2)
    wait_until(lambda: len(engine.resumes()) == 2)
    assert sorted(c.path for c in engine.resumes()) == [
        "/v2/executions/run-1/resume",
        "/v2/executions/run-2/resume",
    ]
    # closed, the token is free for another tenant
    register(gateway, **body)


def test_fifty_concurrent_hooks_and_events_resume_a_single_use_wait_once(
    engine_gateway: EngineGateway,
) -> None:
    gateway, engine = engine_gateway
    jwt_token = tenant_token(gateway, "acme")
    wait = register(gateway, token="race")

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            event = {"event_name": "hook", "correlation_key": "race", "payload": {}}
            auth = {"Authorization": f"Bearer {jwt_token}"}
            answers = await asyncio.gather(
                *(
                    client.post("/api/v1/hooks/race", json={"n": n})
                    if n % 2
                    else client.post("/api/v1/events/acme", json=event, headers=auth)
                    for n in range(50)
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(race())
    assert sorted(statuses) == [202] + [404] * 49
    wait_until(engine.resumes)
    time.sleep(0.5)
    (resume,) = engine.resumes()
    assert resume.body["interaction_id"] == wait["wait_id"]
