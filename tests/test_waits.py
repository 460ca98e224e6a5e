"""Waits: register, inspect, cancel; events resume them once; timeouts.

Every test runs a real gateway whose ``http`` engine adapter talks to a
:class:`FakeEngine` on loopback, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from highway_triggers.testing import (
    tenant_token,
    FakeEngine,
    RunningGateway,
    gateway_settings,
    running_engine,
    running_gateway,
    wait_until,
)

import api_calls

EngineGateway = tuple[RunningGateway, FakeEngine]
EVENT = "order.paid"


def register(gateway: RunningGateway, expect: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"tenant_id": "acme", "workflow_run_id": "run-1", "event_name": EVENT, **fields}
    answer = gateway.client().post("/api/v1/waits", json=body)
    assert answer.status_code == expect, answer.text
    wait: dict[str, Any] = answer.json()
    return wait


def get_wait(gateway: RunningGateway, wait_id: str) -> dict[str, Any]:
    answer = gateway.client().get(f"/api/v1/waits/{wait_id}")
    assert answer.status_code == 200, answer.text
    wait: dict[str, Any] = answer.json()
    return wait


def post_event(
    gateway: RunningGateway,
    token: str,
    correlation_key: str,
    payload: dict[str, Any] | None = None,
    *,
    tenant_id: str = "acme",
    event_name: str = EVENT,
) -> httpx.Response:
    """An event for the wait of ``correlation_key``."""
    return api_calls.post_event(
        gateway, token, tenant_id, event_name, payload, correlation_key=correlation_key
    )


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error" and body["code"] == code and body["message"], body
    return body


def settle() -> None:
    """Give a wrongly repeated delivery the time to show up."""
    time.sleep(0.5)


# the full loop --------------------------------------------------------------------------------


def test_event_resumes_a_registered_wait_once(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    wait = register(
        gateway, workflow_run_id="run-42", workflow_id="wf-orders", correlation_key="order-42"
    )
    assert wait["status"] == "open"
    assert wait["correlation_key"] == "order-42" and wait["token"] is None
    assert wait["expires_at"] is None and "hook_url" not in wait

    answer = post_event(gateway, token, "order-42", {"amount": 12})
    assert answer.status_code == 202, answer.text
    assert answer.json()["delivered_to"] == 1

    (resume,) = wait_until(engine.resumes)
    assert resume.path == "/v2/executions/run-42/resume"
    assert resume.body == {
        "resume_data": {"amount": 12},
        "interaction_id": wait["wait_id"],
        "event_name": EVENT,
        "correlation_key": "order-42",
    }
    assert resume.idempotency_key == f"resume:{wait['wait_id']}"
    closed = get_wait(gateway, wait["wait_id"])
    assert closed["status"] == "consumed" and closed["closed_at"]

    error(post_event(gateway, token, "order-42", {"amount": 13}), 404, "NO_WAITING_WORKFLOW")
    settle()
    assert len(engine.resumes()) == 1


def test_fifty_concurrent_events_resume_a_single_use_wait_once(
    engine_gateway: EngineGateway,
) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    wait = register(gateway, correlation_key="race")

    async def race() -> list[int]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as client:
            body = {"event_name": EVENT, "correlation_key": "race", "payload": {}}
            answers = await asyncio.gather(
                *(
                    client.post("/api/v1/events/acme", json=body | {"payload": {"n": n}})
                    for n in range(50)
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(race())
    assert sorted(statuses) == [202] + [404] * 49
    wait_until(engine.resumes)
    settle()
    (resume,) = engine.resumes()
    assert resume.body["interaction_id"] == wait["wait_id"]
    assert get_wait(gateway, wait["wait_id"])["status"] == "consumed"


def test_tenant_isolation(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token_a, token_b = tenant_token(gateway, "tenant-a"), tenant_token(gateway, "tenant-b")
    wait = register(gateway, tenant_id="tenant-a", correlation_key="shared")

    error(post_event(gateway, token_b, "shared", tenant_id="tenant-b"), 404, "NO_WAITING_WORKFLOW")
    error(post_event(gateway, token_b, "shared", tenant_id="tenant-a"), 403, "FORBIDDEN")
    # a hook names tokens only: a correlation key is not a credential
    error(gateway.client(None).post("/api/v1/hooks/shared", json={}), 404, "NO_WAITING_WORKFLOW")
    settle()
    assert engine.resumes() == []
    assert get_wait(gateway, wait["wait_id"])["status"] == "open"

    assert post_event(gateway, token_a, "shared", tenant_id="tenant-a").status_code == 202
    (resume,) = wait_until(engine.resumes)
    assert resume.body["interaction_id"] == wait["wait_id"]


def test_event_name_must_match(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    wait = register(gateway, correlation_key="k-1")
    error(post_event(gateway, token, "k-1", event_name="other.event"), 404, "NO_WAITING_WORKFLOW")
    assert get_wait(gateway, wait["wait_id"])["status"] == "open"
    settle()
    assert engine.resumes() == []


# registration -------------------------------------------------------------------------------


def test_idempotency_key_returns_the_first_wait(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    first = register(gateway, correlation_key="order-7", idempotency_key="run-1:step-3")
    again = register(gateway, 200, correlation_key="order-7", idempotency_key="run-1:step-3")
    assert again == first

    assert post_event(gateway, token, "order-7").status_code == 202
    wait_until(engine.resumes)
    # even completed, the same registration answers the first wait (the engine replays)
    replayed = register(gateway, 200, correlation_key="order-7", idempotency_key="run-1:step-3")
    assert replayed["wait_id"] == first["wait_id"] and replayed["status"] == "consumed"

    error(
        gateway.client().post(
            "/api/v1/waits",
            json={
                "tenant_id": "other",
                "workflow_run_id": "run-9",
                "event_name": EVENT,
                "correlation_key": "order-7",
                "idempotency_key": "run-1:step-3",
            },
        ),
        409,
        "IDEMPOTENCY_KEY_IN_USE",
    )
    settle()
    assert len(engine.resumes()) == 1


def test_second_open_single_use_wait_is_refused(engine_gateway: EngineGateway) -> None:
    gateway, _ = engine_gateway
    first = register(gateway, correlation_key="doc-1")
    refused = error(
        gateway.client().post(
            "/api/v1/waits",
            json={
                "tenant_id": "acme",
                "workflow_run_id": "run-2",
                "event_name": EVENT,
                "correlation_key": "doc-1",
            },
        ),
        409,
        "WAIT_EXISTS",
    )
    assert refused["wait_id"] == first["wait_id"]
    assert first["wait_id"] in refused["message"]

    # other event names, other tenants and multi-use waits do not collide
    register(gateway, correlation_key="doc-1", event_name="doc.signed")
    register(gateway, correlation_key="doc-1", tenant_id="globex")
    register(gateway, correlation_key="doc-1", multi_use=True)
    # once the first is closed, the key is free again
    gateway.client().delete(f"/api/v1/waits/{first['wait_id']}")
    register(gateway, correlation_key="doc-1", workflow_run_id="run-3")


def test_get_and_cancel(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    schema = {"type": "object", "required": ["approved"]}
    wait = register(
        gateway,
        workflow_run_id="run-5",
        workflow_id="wf-5",
        correlation_key="c-5",
        timeout_seconds=3600,
        schema=schema,
    )
    assert get_wait(gateway, wait["wait_id"]) == wait
    assert wait["schema"] == schema and wait["multi_use"] is False
    expires = datetime.fromisoformat(wait["expires_at"]) - datetime.fromisoformat(
        wait["created_at"]
    )
    assert expires.total_seconds() == 3600

    cancelled = gateway.client().delete(f"/api/v1/waits/{wait['wait_id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["closed_at"]
    assert get_wait(gateway, wait["wait_id"])["status"] == "cancelled"
    error(post_event(gateway, token, "c-5"), 404, "NO_WAITING_WORKFLOW")
    again = gateway.client().delete(f"/api/v1/waits/{wait['wait_id']}")
    assert again.status_code == 200 and again.json() == cancelled.json()

    error(gateway.client().get("/api/v1/waits/nope"), 404, "WAIT_NOT_FOUND")
    error(gateway.client().delete("/api/v1/waits/nope"), 404, "WAIT_NOT_FOUND")
    settle()
    assert engine.resumes() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tenant_id": None}, "tenant_id"),
        ({"workflow_run_id": ""}, "workflow_run_id"),
        ({"event_name": 7}, "event_name"),
        ({"correlation_key": None}, "correlation_key or token"),
        ({"token": "t-1"}, "correlation_key or token"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"timeout_seconds": "60"}, "timeout_seconds"),
        ({"multi_use": "yes"}, "multi_use"),
        ({"schema": {"type": "objekt"}}, "schema"),
        ({"schema": "object"}, "schema"),
        ({"timeout": 60}, "timeout"),
    ],
)
def test_invalid_bodies_name_the_field(
    gateway: RunningGateway, fields: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {
        "tenant_id": "acme",
        "workflow_run_id": "run-1",
        "event_name": EVENT,
        "correlation_key": "k",
    }
    body.update(fields)
    refused = error(gateway.client().post("/api/v1/waits", json=body), 422, "VALIDATION_ERROR")
    assert field in refused["message"], refused


def test_bad_tokens_and_auth(gateway: RunningGateway) -> None:
    body = {"tenant_id": "acme", "workflow_run_id": "run-1", "event_name": EVENT}
    for token in ("a/b", "has space", ""):
        refused = error(
            gateway.client().post("/api/v1/waits", json=body | {"token": token}),
            422,
            "VALIDATION_ERROR",
        )
        assert "token" in refused["message"]
    error(
        gateway.client(None).post("/api/v1/waits", json=body | {"token": "t"}), 401, "UNAUTHORIZED"
    )
    error(gateway.client("wrong").get("/api/v1/waits/x"), 401, "UNAUTHORIZED")
    error(gateway.client(None).delete("/api/v1/waits/x"), 401, "UNAUTHORIZED")
    error(gateway.client().post("/api/v1/waits", content=b"[1]"), 400, "MALFORMED_BODY")


def dispatches_written(gateway: RunningGateway) -> float:
    """``highway_dispatches_total{status="written"}`` of the gateway's ``/metrics``."""
    text = gateway.client(token=None).get("/metrics").text
    found = re.search(r'^highway_dispatches_total\{status="written"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


# listing ------------------------------------------------------------------------------------------


def test_waits_are_listed_newest_first_with_filters_and_pages(gateway: RunningGateway) -> None:
    token = tenant_token(gateway, "acme")
    opened = [
        register(gateway, workflow_run_id=f"run-{i}", correlation_key=f"k{i}") for i in range(3)
    ]
    cancelled = register(gateway, workflow_run_id="run-c", correlation_key="kc")
    gateway.client().delete(f"/api/v1/waits/{cancelled['wait_id']}")
    expired = register(gateway, workflow_run_id="run-e", correlation_key="ke", timeout_seconds=0.05)
    assert post_event(gateway, token, "k0").status_code == 202  # consumes run-0's wait
    other = register(gateway, tenant_id="beta", workflow_run_id="run-b", correlation_key="kb")
    time.sleep(0.1)  # run-e's wait is past its timeout (closed by the sweeper, or about to be)

    def listed(**params: Any) -> list[str]:
        answer = gateway.client().get("/api/v1/waits", params=params)
        assert answer.status_code == 200, answer.text
        return [w["workflow_run_id"] for w in answer.json()["waits"]]

    assert listed() == ["run-b", "run-e", "run-c", "run-2", "run-1", "run-0"]
    assert listed(tenant_id="beta") == ["run-b"]
    assert listed(workflow_run_id="run-1") == ["run-1"]
    assert listed(status="open", tenant_id="acme") == ["run-2", "run-1"]
    assert listed(status="consumed") == ["run-0"]
    assert listed(status="cancelled") == ["run-c"]
    assert listed(status="expired") == ["run-e"]
    assert {opened[1]["wait_id"], other["wait_id"], expired["wait_id"]} <= {
        w["wait_id"] for w in gateway.client().get("/api/v1/waits").json()["waits"]
    }

    first = gateway.client().get("/api/v1/waits", params={"limit": 4}).json()
    assert first["count"] == 4 and first["next_cursor"] == first["waits"][-1]["wait_id"]
    rest = gateway.client().get(
        "/api/v1/waits", params={"limit": 4, "cursor": first["next_cursor"]}
    )
    assert [w["workflow_run_id"] for w in rest.json()["waits"]] == ["run-1", "run-0"]
    assert rest.json()["next_cursor"] is None

    error(
        gateway.client().get("/api/v1/waits", params={"status": "gone"}), 400, "INVALID_PARAMETER"
    )
    error(
        gateway.client().get("/api/v1/waits", params={"cursor": "../x"}), 400, "INVALID_PARAMETER"
    )
    error(gateway.client().get("/api/v1/waits", params={"limit": 0}), 400, "INVALID_PARAMETER")
    error(gateway.client(None).get("/api/v1/waits"), 401, "UNAUTHORIZED")


# timeouts -----------------------------------------------------------------------------------


def test_expired_wait_resumes_once_with_timeout(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    wait = register(gateway, workflow_run_id="run-t", correlation_key="slow", timeout_seconds=1)
    expires_at = datetime.fromisoformat(wait["expires_at"])

    (resume,) = wait_until(engine.resumes, timeout=10)
    late = datetime.now(expires_at.tzinfo) - expires_at
    assert late.total_seconds() < 3
    assert resume.path == "/v2/executions/run-t/resume"
    assert resume.body == {
        "resume_data": {"status": "timeout"},
        "interaction_id": wait["wait_id"],
        "event_name": EVENT,
        "correlation_key": "slow",
    }
    assert resume.idempotency_key == f"timeout:{wait['wait_id']}"
    assert get_wait(gateway, wait["wait_id"])["status"] == "expired"

    error(post_event(gateway, token, "slow"), 404, "NO_WAITING_WORKFLOW")
    settle()
    assert len(engine.resumes()) == 1
    assert dispatches_written(gateway) == 1  # the timeout's resume is counted


def test_consumed_wait_never_times_out(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    wait = register(gateway, correlation_key="quick", timeout_seconds=0.5)
    assert post_event(gateway, token, "quick", {"ok": True}).status_code == 202
    time.sleep(1.5)
    (resume,) = engine.resumes()
    assert resume.body["resume_data"] == {"ok": True}
    assert get_wait(gateway, wait["wait_id"])["status"] == "consumed"


def test_two_replicas_time_a_wait_out_once(postgres_url: str, tmp_path: Path) -> None:
    with running_engine() as (engine, engine_url):
        settings = [
            gateway_settings(postgres_url, tmp_path / name, engine="http", engine_url=engine_url)
            for name in ("a", "b")
        ]
        with running_gateway(settings[0]) as a, running_gateway(settings[1]):
            waits = [register(a, correlation_key=f"k-{n}", timeout_seconds=0.5) for n in range(40)]
            wait_until(lambda: len(engine.resumes()) >= len(waits))
            settle()
            keys = sorted(call.idempotency_key for call in engine.resumes())
            assert keys == sorted(f"timeout:{w['wait_id']}" for w in waits)


# payload schemas --------------------------------------------------------------------------------


def test_payload_failing_the_schema_is_400_and_the_wait_stays_open(
    engine_gateway: EngineGateway,
) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "amount": {"type": "number"}},
        "required": ["approved"],
    }
    wait = register(gateway, correlation_key="order-7", schema=schema)

    for bad in ({"amount": 3}, {"approved": "yes"}):
        body = error(post_event(gateway, token, "order-7", bad), 400, "INVALID_PAYLOAD")
        assert body["wait_id"] == wait["wait_id"]
        assert get_wait(gateway, wait["wait_id"])["status"] == "open"
    settle()
    assert engine.resumes() == []

    good = post_event(gateway, token, "order-7", {"approved": True, "amount": 3})
    assert good.status_code == 202, good.text
    wait_until(lambda: len(engine.resumes()) == 1)
    assert engine.resumes()[0].body["resume_data"] == {"approved": True, "amount": 3}
    assert get_wait(gateway, wait["wait_id"])["status"] == "consumed"


# early events -----------------------------------------------------------------------------------


def test_event_before_its_wait_resumes_the_wait_at_registration(
    engine_gateway: EngineGateway,
) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    early = post_event(gateway, token, "order-9", {"paid": 12})
    assert "kept for" in error(early, 404, "NO_WAITING_WORKFLOW")["message"]
    other = post_event(gateway, token, "order-10", {"paid": 1})  # another key: not for this wait
    error(other, 404, "NO_WAITING_WORKFLOW")

    wait = register(gateway, correlation_key="order-9")
    assert wait["status"] == "consumed"
    wait_until(lambda: len(engine.resumes()) == 1)
    assert engine.resumes()[0].body["resume_data"] == {"paid": 12}
    assert engine.resumes()[0].body["correlation_key"] == "order-9"
    assert engine.resumes()[0].body["event_name"] == EVENT
    settle()
    assert len(engine.resumes()) == 1
    assert dispatches_written(gateway) == 1  # the kept event's resume is counted

    # the kept event was used up: the next wait on that key stays open
    assert register(gateway, correlation_key="order-9", workflow_run_id="run-2")["status"] == "open"


def test_event_older_than_the_lookback_is_not_used(tmp_path: Path, database_url: str) -> None:
    with running_engine() as (engine, engine_url):
        settings = gateway_settings(
            database_url,
            tmp_path,
            engine="http",
            engine_url=engine_url,
            early_event_lookback_seconds=0.3,
        )
        with running_gateway(settings) as gateway:
            token = tenant_token(gateway, "acme")
            error(post_event(gateway, token, "order-11", {"paid": 3}), 404, "NO_WAITING_WORKFLOW")
            time.sleep(0.6)
            assert register(gateway, correlation_key="order-11")["status"] == "open"
            settle()
            assert engine.resumes() == []
