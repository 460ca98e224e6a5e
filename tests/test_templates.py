"""Workflow templates: CRUD, unique names per tenant, runs checked against
``input_schema`` and started through the outbox; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import httpx

from highway_triggers.testing import FakeEngine, RunningGateway, tenant_token, wait_until

EngineGateway = tuple[RunningGateway, FakeEngine]
SCHEMA = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "format": "email", "minLength": 3},
        "plan": {"enum": ["free", "pro"]},
        "seats": {"type": "integer", "minimum": 1},
    },
    "required": ["email", "plan"],
    "additionalProperties": False,
}


def template(**fields: Any) -> dict[str, Any]:
    return {
        "tenant_id": "acme",
        "name": "onboarding",
        "workflow_definition": {"id": "wf-onboarding", "nodes": []},
        "input_schema": SCHEMA,
        "category": "users",
        "description": "Welcome a new user",
        **fields,
    }


def create(gateway: RunningGateway, expect: int = 201, **fields: Any) -> dict[str, Any]:
    answer = gateway.client().post("/api/v1/templates", json=template(**fields))
    assert answer.status_code == expect, answer.text
    body: dict[str, Any] = answer.json()
    return body


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error" and body["code"] == code and body["message"], body
    return body


def test_create_read_update_delete(gateway: RunningGateway) -> None:
    client = gateway.client()
    created = create(gateway)
    assert created["name"] == "onboarding" and created["tenant_id"] == "acme"
    assert created["workflow_id"] == "wf-onboarding" and created["input_schema"] == SCHEMA
    create(gateway, name="offboarding", category="ops", workflow_definition={"nodes": []})

    listed = client.get("/api/v1/templates", params={"tenant_id": "acme"}).json()
    assert [t["name"] for t in listed["templates"]] == ["offboarding", "onboarding"]
    assert listed["count"] == 2
    by_category = client.get("/api/v1/templates", params={"category": "ops"}).json()
    assert [t["name"] for t in by_category["templates"]] == ["offboarding"]
    assert by_category["templates"][0]["workflow_id"] == "offboarding"  # no id: the name

    one = client.get("/api/v1/templates/onboarding", params={"tenant_id": "acme"})
    assert one.status_code == 200 and one.json() == created

    updated = client.put(
        "/api/v1/templates/onboarding?tenant_id=acme", json={"description": "Say hello"}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "Say hello"
    assert updated.json()["input_schema"] == SCHEMA  # what the body leaves out is kept
    error(
        client.put("/api/v1/templates/onboarding?tenant_id=acme", json={"tenant_id": "other"}),
        422,
        "VALIDATION_ERROR",
    )
    error(
        client.put("/api/v1/templates/onboarding", json={"name": "offboarding"}),
        409,
        "TEMPLATE_EXISTS",
    )

    assert client.delete("/api/v1/templates/onboarding?tenant_id=acme").status_code == 204
    error(client.get("/api/v1/templates/onboarding"), 404, "TEMPLATE_NOT_FOUND")
    error(client.delete("/api/v1/templates/onboarding"), 404, "TEMPLATE_NOT_FOUND")
    error(gateway.client(token=None).get("/api/v1/templates"), 401, "UNAUTHORIZED")


def test_names_are_unique_per_tenant(gateway: RunningGateway) -> None:
    create(gateway)
    error(gateway.client().post("/api/v1/templates", json=template()), 409, "TEMPLATE_EXISTS")
    other = create(gateway, tenant_id="globex")
    assert other["tenant_id"] == "globex"
    client = gateway.client()
    error(client.get("/api/v1/templates/onboarding"), 400, "TENANT_REQUIRED")
    answer = client.get("/api/v1/templates/onboarding?tenant_id=globex")
    assert answer.json()["template_id"] == other["template_id"]
    # the tenant may come from the query too
    answer = client.post(
        "/api/v1/templates?tenant_id=initech", json={**template(), "tenant_id": None}
    )
    error(answer, 422, "VALIDATION_ERROR")
    body = template()
    del body["tenant_id"]
    assert client.post("/api/v1/templates?tenant_id=initech", json=body).status_code == 201


def test_invalid_schema_and_fields_are_422(gateway: RunningGateway) -> None:
    bad = error(
        gateway.client().post(
            "/api/v1/templates", json=template(input_schema={"type": "no-such-type"})
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert bad["errors"][0]["field"] == "input_schema"
    bad = error(
        gateway.client().post(
            "/api/v1/templates", json=template(name="has space", workflow_definition=[])
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert {e["field"] for e in bad["errors"]} == {"name", "workflow_definition"}


def test_run_with_bad_input_lists_every_violation(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    create(gateway)
    answer = gateway.client().post(
        "/api/v1/templates/onboarding/run",
        json={"input": {"email": 7, "seats": 0, "extra": True}},
    )
    body = error(answer, 400, "INVALID_INPUT")
    paths = sorted(e["path"] for e in body["errors"])
    assert paths == ["$", "$", "$.email", "$.seats"], body["errors"]
    messages = " ".join(e["message"] for e in body["errors"])
    assert "'plan' is a required property" in messages and "extra" in messages
    time.sleep(0.3)
    assert engine.starts() == []


def test_run_with_good_input_starts_the_workflow_once(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    created = create(gateway)
    data = {"email": "ada@example.com", "plan": "pro", "seats": 3}
    headers = {"Idempotency-Key": "signup-1"}
    answer = gateway.client().post(
        "/api/v1/templates/onboarding/run", json={"input": data}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["status"] == "accepted" and accepted["delivered_to"] == 1
    again = gateway.client().post(
        "/api/v1/templates/onboarding/run", json={"input": data}, headers=headers
    )
    assert again.status_code == 202 and again.json()["duplicate"] is True

    (start,) = wait_until(engine.starts)
    assert start.path == "/v2/workflows/wf-onboarding/execute"
    assert start.body == {"trigger_type": "TEMPLATE", "trigger_data": data, "tenant_id": "acme"}
    dispatches = gateway.client().get("/api/v1/dispatches", params={"workflow_id": "wf-onboarding"})
    assert dispatches.status_code == 200, dispatches.text
    assert [d["trigger_id"] for d in dispatches.json()["dispatches"]] == [created["template_id"]]
    time.sleep(0.3)
    assert len(engine.starts()) == 1


def test_tenant_jwt_runs_its_own_templates_only(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    create(gateway, input_schema=None)
    create(gateway, tenant_id="globex", name="globex-only", input_schema=None)
    acme = gateway.client(tenant_token(gateway, "acme"))
    tenant_token(gateway, "globex")

    answer = acme.post("/api/v1/templates/onboarding/run", json={"data": {"x": 1}})
    assert answer.status_code == 202, answer.text
    error(acme.post("/api/v1/templates/globex-only/run", json={}), 404, "TEMPLATE_NOT_FOUND")
    error(
        acme.post("/api/v1/templates/globex-only/run?tenant_id=globex", json={}),
        403,
        "FORBIDDEN",
    )
    error(acme.get("/api/v1/templates"), 401, "UNAUTHORIZED")  # CRUD is admin-only
    error(
        gateway.client("not-a-jwt").post("/api/v1/templates/onboarding/run", json={}),
        401,
        "INVALID_TOKEN",
    )
    (start,) = wait_until(engine.starts)
    assert start.body["trigger_data"] == {"x": 1} and start.body["tenant_id"] == "acme"


def test_event_trigger_may_start_a_template(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    client = gateway.client()
    create(gateway, input_schema=None)
    trigger = {"type": "EVENT", "config": {"event_type": "user_created"}, "template": "onboarding"}
    created = client.post("/api/v1/triggers", json=trigger)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["template"] == "onboarding" and body["workflow_id"] == "wf-onboarding"
    assert body["tenant_id"] == "acme"  # the template's tenant

    token = tenant_token(gateway, "acme")
    event = {"event_name": "user_created", "payload": {"user": "ada"}}
    answer = gateway.client(token).post("/api/v1/events/acme", json=event)
    assert answer.status_code == 202 and answer.json()["delivered_to"] == 1, answer.text
    (start,) = wait_until(engine.starts)
    assert start.path == "/v2/workflows/wf-onboarding/execute"
    assert start.body["trigger_type"] == "EVENT" and start.body["tenant_id"] == "acme"

    change = {"config": trigger["config"], "workflow_id": "wf-other"}
    moved = client.put(f"/api/v1/triggers/{body['trigger_id']}", json=change)
    assert moved.status_code == 200 and moved.json()["template"] is None, moved.text


def test_trigger_target_must_exist_and_be_one(gateway: RunningGateway) -> None:
    client = gateway.client()
    create(gateway, input_schema=None)
    event = {"type": "EVENT", "config": {"event_type": "user_created"}}
    missing = client.post("/api/v1/triggers", json={**event, "template": "nope"})
    assert error(missing, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "template"
    other_tenant = client.post(
        "/api/v1/triggers", json={**event, "template": "onboarding", "tenant_id": "globex"}
    )
    assert error(other_tenant, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "template"
    both = client.post(
        "/api/v1/triggers", json={**event, "template": "onboarding", "workflow_id": "wf"}
    )
    assert error(both, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "workflow_id"
    neither = client.post("/api/v1/triggers", json=event)
    assert error(neither, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "workflow_id"


def test_template_runs_share_the_tenant_rate_limit(gateway: RunningGateway) -> None:
    create(gateway, input_schema=None)
    token = tenant_token(gateway, "acme", rate_limit_per_second=1, burst=2)
    answers = [
        gateway.client(token).post("/api/v1/templates/onboarding/run", json={"input": {}})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
