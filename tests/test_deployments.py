"""Deployments and stand-alone triggers, through a real gateway on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from highway_triggers.testing import RunningGateway, gateway_settings, running_gateway, wait_until

TENANT = "acme"


def tenant_token(client: httpx.Client, tenant_id: str = TENANT) -> str:
    """Create a tenant through the API and sign a JWT with its secret."""
    created = client.post("/api/v1/tenants", json={"tenant_id": tenant_id})
    assert created.status_code == 201, created.text
    return sign(created.json()["jwt_secret"], tenant_id)


def sign(secret: str, tenant_id: str) -> str:
    return jwt.encode(
        {"tenant_id": tenant_id, "exp": int(time.time()) + 600}, secret, algorithm="HS256"
    )


def send_event(
    gateway: RunningGateway,
    token: str,
    event_name: str,
    payload: dict[str, Any],
    tenant_id: str = TENANT,
) -> httpx.Response:
    client = gateway.client(token)
    return client.post(
        f"/api/v1/events/{tenant_id}", json={"event_name": event_name, "payload": payload}
    )


def event_trigger(event_type: str, **filters: Any) -> dict[str, Any]:
    return {"type": "EVENT", "config": {"event_type": event_type, "filter_expression": filters}}


def deploy(client: httpx.Client, workflow_id: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/api/v1/deployment/workflows/{workflow_id}/deploy", json=body)


def trigger_ids(client: httpx.Client, **filters: str) -> set[str]:
    listed = client.get("/api/v1/triggers", params=filters)
    assert listed.status_code == 200, listed.text
    return {t["trigger_id"] for t in listed.json()["triggers"]}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


# deploy: both body forms -------------------------------------------------------------


def test_deploy_triggers_form(gateway: RunningGateway) -> None:
    client = gateway.client()
    token = tenant_token(client)
    answer = deploy(
        client,
        "wf-a",
        {
            "tenant_id": TENANT,
            "triggers": [event_trigger("order.created"), {"type": "MANUAL", "config": {}}],
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["workflow_id"] == "wf-a"
    assert body["status"] == "DEPLOYED"
    assert body["tenant_id"] == TENANT
    assert sorted(t["type"] for t in body["triggers"]) == ["EVENT", "MANUAL"]
    event = next(t for t in body["triggers"] if t["type"] == "EVENT")
    assert event["index_key"] == "order.created"
    assert event["config"]["event_type"] == "order.created"
    assert trigger_ids(client, workflow_id="wf-a") == {t["trigger_id"] for t in body["triggers"]}
    # active in the deploying replica at once
    assert len(gateway.gateway.manager.index.of_workflow("wf-a")) == 2

    routed = send_event(gateway, token, "order.created", {"id": 1})
    assert routed.status_code == 202, routed.text
    assert routed.json()["delivered_to"] == 1


def test_deploy_workflow_spec_form(gateway: RunningGateway) -> None:
    client = gateway.client()
    token = tenant_token(client)
    spec = {
        "tenant_id": TENANT,
        "name": "shipping",
        "nodes": [
            {
                "id": "n1",
                "type": "TRIGGER",
                "subtype": "EVENT",
                "configurations": {"event_type": "parcel.sent"},
            },
            {
                "id": "n2",
                "type": "ACTION",
                "subtype": "HTTP",
                "configurations": {"url": "http://x"},
            },
            {
                "id": "n3",
                "type": "TRIGGER",
                "subtype": "MANUAL",
                "configurations": {"require_confirmation": True},
            },
        ],
    }
    answer = deploy(client, "wf-spec", spec)
    assert answer.status_code == 200, answer.text
    triggers = answer.json()["triggers"]
    assert sorted(t["type"] for t in triggers) == ["EVENT", "MANUAL"]
    manual = next(t for t in triggers if t["type"] == "MANUAL")
    assert manual["config"]["require_confirmation"] is True

    routed = send_event(gateway, token, "parcel.sent", {})
    assert routed.status_code == 202, routed.text
    assert routed.json()["delivered_to"] == 1


def test_deploy_rejects_unknown_type_and_bad_body(gateway: RunningGateway) -> None:
    client = gateway.client()
    unknown = assert_error(
        deploy(client, "wf-x", {"triggers": [{"type": "NO_SUCH_TYPE", "config": {}}]}),
        422,
        "VALIDATION_ERROR",
    )
    assert "triggers[0].type" in unknown["message"]
    neither = assert_error(deploy(client, "wf-x", {"something": []}), 422, "VALIDATION_ERROR")
    assert "triggers" in neither["message"]
    extra = assert_error(
        deploy(client, "wf-x", {"triggers": [{"type": "MANUAL", "config": {"bogus": 1}}]}),
        422,
        "VALIDATION_ERROR",
    )
    assert "triggers[0].config.bogus" in extra["message"]
    assert trigger_ids(client, workflow_id="wf-x") == set()


# redeploy ---------------------------------------------------------------------------------


def test_redeploy_replaces_triggers_atomically(gateway: RunningGateway) -> None:
    client = gateway.client()
    token = tenant_token(client)
    first = deploy(client, "wf-r", {"tenant_id": TENANT, "triggers": [event_trigger("v1.event")]})
    assert first.status_code == 200, first.text
    old_ids = {t["trigger_id"] for t in first.json()["triggers"]}

    second = deploy(
        client,
        "wf-r",
        {"tenant_id": TENANT, "triggers": [event_trigger("v2.event"), event_trigger("v2.other")]},
    )
    assert second.status_code == 200, second.text
    new_ids = {t["trigger_id"] for t in second.json()["triggers"]}
    assert len(new_ids) == 2
    assert not old_ids & new_ids

    assert trigger_ids(client, workflow_id="wf-r") == new_ids
    assert {t.id for t in gateway.gateway.manager.index.of_workflow("wf-r")} == new_ids
    for old in old_ids:
        assert_error(client.get(f"/api/v1/triggers/{old}"), 404, "TRIGGER_NOT_FOUND")

    assert_error(send_event(gateway, token, "v1.event", {}), 404, "NO_WAITING_WORKFLOW")
    for name in ("v2.event", "v2.other"):
        routed = send_event(gateway, token, name, {})
        assert routed.status_code == 202, routed.text
        assert routed.json()["delivered_to"] == 1

    history = client.get("/api/v1/deployment/workflows/wf-r").json()["history"]
    deploys = [h for h in history if h["action"] == "deploy"]
    assert [h["status"] for h in deploys] == ["DEPLOYED", "DEPLOYED"]
    assert set(deploys[0]["detail"]["trigger_ids"]) == new_ids  # newest first


def test_invalid_redeploy_keeps_old_triggers(gateway: RunningGateway) -> None:
    client = gateway.client()
    token = tenant_token(client)
    first = deploy(client, "wf-i", {"tenant_id": TENANT, "triggers": [event_trigger("keep.me")]})
    assert first.status_code == 200, first.text
    old_ids = {t["trigger_id"] for t in first.json()["triggers"]}

    bad = deploy(
        client,
        "wf-i",
        {
            "tenant_id": TENANT,
            "triggers": [
                event_trigger("new.event"),
                {"type": "EVENT", "config": {"filter_expression": {}}},
            ],
        },
    )
    body = assert_error(bad, 422, "VALIDATION_ERROR")
    assert "triggers[1].config.event_type" in body["message"]
    assert body["errors"][0]["field"] == "triggers[1].config.event_type"
    assert body["errors"][0]["trigger"] == "triggers[1]"

    # nothing of the invalid spec was applied; the old trigger still routes
    assert trigger_ids(client, workflow_id="wf-i") == old_ids
    assert {t.id for t in gateway.gateway.manager.index.of_workflow("wf-i")} == old_ids
    assert_error(send_event(gateway, token, "new.event", {}), 404, "NO_WAITING_WORKFLOW")
    routed = send_event(gateway, token, "keep.me", {})
    assert routed.status_code == 202, routed.text
    assert routed.json()["delivered_to"] == 1

    status = client.get("/api/v1/deployment/workflows/wf-i").json()
    latest = status["history"][0]
    assert latest["action"] == "deploy"
    assert latest["status"] == "DEPLOYMENT_FAILED"
    assert latest["detail"]["errors"][0]["field"] == "triggers[1].config.event_type"
    assert {t["trigger_id"] for t in status["triggers"]} == old_ids


# undeploy and status ----------------------------------------------------------------------


def test_undeploy_stops_routing_and_status_shows_history(gateway: RunningGateway) -> None:
    client = gateway.client()
    token = tenant_token(client)
    deployed = deploy(
        client,
        "wf-u",
        {"tenant_id": TENANT, "triggers": [event_trigger("u.event"), {"type": "MANUAL"}]},
    )
    assert deployed.status_code == 200, deployed.text
    ids = {t["trigger_id"] for t in deployed.json()["triggers"]}
    assert send_event(gateway, token, "u.event", {}).status_code == 202

    undeployed = client.post("/api/v1/deployment/workflows/wf-u/undeploy")
    assert undeployed.status_code == 200, undeployed.text
    assert undeployed.json()["status"] == "UNDEPLOYED"
    assert undeployed.json()["triggers"] == []

    assert_error(send_event(gateway, token, "u.event", {}), 404, "NO_WAITING_WORKFLOW")
    manual = client.post("/api/v1/triggers/workflows/wf-u/manual", json={"data": {}})
    assert_error(manual, 404, "NO_MANUAL_TRIGGER")
    assert trigger_ids(client, workflow_id="wf-u") == set()
    assert gateway.gateway.manager.index.of_workflow("wf-u") == []

    status = client.get("/api/v1/deployment/workflows/wf-u")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["status"] == "UNDEPLOYED"
    assert [(h["action"], h["status"]) for h in body["history"]] == [
        ("undeploy", "UNDEPLOYED"),
        ("deploy", "DEPLOYED"),
    ]
    assert set(body["history"][0]["detail"]["trigger_ids"]) == ids

    # deploying again brings it back
    again = deploy(client, "wf-u", {"tenant_id": TENANT, "triggers": [event_trigger("u.event")]})
    assert again.json()["status"] == "DEPLOYED"
    assert send_event(gateway, token, "u.event", {}).status_code == 202


def test_status_of_deployed_workflow(gateway: RunningGateway) -> None:
    client = gateway.client()
    deploy(client, "wf-s", {"triggers": [{"type": "MANUAL", "config": {}}]})
    status = client.get("/api/v1/deployment/workflows/wf-s")
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "DEPLOYED"
    assert len(body["triggers"]) == 1
    assert body["history"][0]["action"] == "deploy"
    assert body["history"][0]["status"] == "DEPLOYED"
    assert body["history"][0]["at"]


def test_unknown_workflow(gateway: RunningGateway) -> None:
    client = gateway.client()
    assert_error(
        client.post("/api/v1/deployment/workflows/nope/undeploy"), 404, "WORKFLOW_NOT_FOUND"
    )
    status = client.get("/api/v1/deployment/workflows/nope")
    assert status.status_code == 200
    assert status.json()["status"] == "UNDEPLOYED"
    assert status.json()["history"] == []


# stand-alone triggers -----------------------------------------------------------------------


def test_standalone_event_trigger_create_update_delete(gateway: RunningGateway) -> None:
    client = gateway.client()
    token = tenant_token(client)
    created = client.post(
        "/api/v1/triggers",
        json={
            "type": "EVENT",
            "workflow_id": "wf-alone",
            "tenant_id": TENANT,
            "config": {
                "event_type": "payment.failed",
                "filter_expression": {"amount.currency": "EUR"},
            },
        },
    )
    assert created.status_code == 201, created.text
    trigger = created.json()
    trigger_id = trigger["trigger_id"]
    assert trigger["origin"] == "api"
    assert trigger["index_key"] == "payment.failed"
    assert client.get(f"/api/v1/triggers/{trigger_id}").json()["trigger_id"] == trigger_id

    assert_error(
        send_event(gateway, token, "payment.failed", {"amount": {"currency": "USD"}}),
        404,
        "NO_WAITING_WORKFLOW",
    )
    routed = send_event(gateway, token, "payment.failed", {"amount": {"currency": "EUR"}})
    assert routed.status_code == 202, routed.text
    assert routed.json()["delivered_to"] == 1

    updated = client.put(
        f"/api/v1/triggers/{trigger_id}",
        json={"config": {"event_type": "payment.refunded", "filter_expression": {}}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["index_key"] == "payment.refunded"
    assert updated.json()["workflow_id"] == "wf-alone"
    assert_error(
        send_event(gateway, token, "payment.failed", {"amount": {"currency": "EUR"}}),
        404,
        "NO_WAITING_WORKFLOW",
    )
    assert send_event(gateway, token, "payment.refunded", {}).status_code == 202

    invalid = client.put(f"/api/v1/triggers/{trigger_id}", json={"config": {"event_type": ""}})
    assert "trigger.config.event_type" in assert_error(invalid, 422, "VALIDATION_ERROR")["message"]
    assert send_event(gateway, token, "payment.refunded", {}).status_code == 202

    deleted = client.delete(f"/api/v1/triggers/{trigger_id}")
    assert deleted.status_code == 204
    assert_error(send_event(gateway, token, "payment.refunded", {}), 404, "NO_WAITING_WORKFLOW")
    assert_error(client.delete(f"/api/v1/triggers/{trigger_id}"), 404, "TRIGGER_NOT_FOUND")
    assert_error(client.get(f"/api/v1/triggers/{trigger_id}"), 404, "TRIGGER_NOT_FOUND")
    assert_error(
        client.put(f"/api/v1/triggers/{trigger_id}", json={"config": {"event_type": "x"}}),
        404,
        "TRIGGER_NOT_FOUND",
    )


def test_standalone_trigger_validation(gateway: RunningGateway) -> None:
    client = gateway.client()
    no_workflow = client.post(
        "/api/v1/triggers", json={"type": "EVENT", "config": {"event_type": "a"}}
    )
    assert "workflow_id" in assert_error(no_workflow, 422, "VALIDATION_ERROR")["message"]
    no_event_type = client.post(
        "/api/v1/triggers", json={"type": "EVENT", "workflow_id": "w", "config": {}}
    )
    assert (
        "trigger.config.event_type"
        in assert_error(no_event_type, 422, "VALIDATION_ERROR")["message"]
    )
    bad_filter = client.post(
        "/api/v1/triggers",
        json={
            "type": "EVENT",
            "workflow_id": "w",
            "config": {"event_type": "a", "filter_expression": "x"},
        },
    )
    assert (
        "trigger.config.filter_expression"
        in assert_error(bad_filter, 422, "VALIDATION_ERROR")["message"]
    )
    assert trigger_ids(client) == set()


def test_redeploy_leaves_standalone_triggers_alone(gateway: RunningGateway) -> None:
    client = gateway.client()
    deploy(client, "wf-mix", {"triggers": [{"type": "MANUAL"}]})
    alone = client.post(
        "/api/v1/triggers",
        json={"type": "EVENT", "workflow_id": "wf-mix", "config": {"event_type": "e"}},
    ).json()["trigger_id"]
    deploy(client, "wf-mix", {"triggers": [event_trigger("other")]})
    ids = trigger_ids(client, workflow_id="wf-mix")
    assert alone in ids and len(ids) == 2
    client.post("/api/v1/deployment/workflows/wf-mix/undeploy")
    assert trigger_ids(client, workflow_id="wf-mix") == {alone}


def test_list_triggers_filters(gateway: RunningGateway) -> None:
    client = gateway.client()
    deploy(
        client, "wf-1", {"tenant_id": "t1", "triggers": [event_trigger("a"), {"type": "MANUAL"}]}
    )
    deploy(client, "wf-2", {"tenant_id": "t2", "triggers": [event_trigger("b")]})
    alone = client.post(
        "/api/v1/triggers",
        json={
            "type": "EVENT",
            "workflow_id": "wf-3",
            "tenant_id": "t1",
            "config": {"event_type": "c"},
        },
    ).json()["trigger_id"]

    everything = client.get("/api/v1/triggers").json()
    assert everything["count"] == 4
    by_id = {t["trigger_id"]: t for t in everything["triggers"]}

    def ids_where(**match: str) -> set[str]:
        return {i for i, t in by_id.items() if all(t[k] == v for k, v in match.items())}

    assert trigger_ids(client, type="EVENT") == ids_where(type="EVENT")
    assert len(ids_where(type="EVENT")) == 3
    assert trigger_ids(client, type="MANUAL") == ids_where(type="MANUAL")
    assert trigger_ids(client, workflow_id="wf-1") == ids_where(workflow_id="wf-1")
    assert trigger_ids(client, tenant_id="t1") == ids_where(tenant_id="t1")
    assert alone in trigger_ids(client, tenant_id="t1")
    assert trigger_ids(client, type="EVENT", tenant_id="t1") == ids_where(
        type="EVENT", tenant_id="t1"
    )
    assert len(ids_where(type="EVENT", tenant_id="t1")) == 2
    assert trigger_ids(client, tenant_id="nobody") == set()
    assert trigger_ids(client, type="CRON") == set()


# several replicas ---------------------------------------------------------------------------


def listeners(gateway: RunningGateway) -> int:
    """Connections to this database that are LISTENing (one per replica's change feed)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query ILIKE 'LISTEN%%'"
    )
    with gateway.gateway.db.engine.connect() as conn:
        return int(conn.exec_driver_sql(query).scalar() or 0)


def test_deploy_reaches_other_replica_within_a_second(postgres_url: str, tmp_path: Path) -> None:
    """Replica B has a slow reconcile, so only LISTEN/NOTIFY can bring it changes in time."""
    a_settings = gateway_settings(postgres_url, tmp_path / "a", reconcile_interval_seconds=30)
    b_settings = gateway_settings(postgres_url, tmp_path / "b", reconcile_interval_seconds=30)
    with running_gateway(a_settings) as a, running_gateway(b_settings) as b:
        admin_a = a.client()
        token = tenant_token(admin_a)
        wait_until(lambda: listeners(a) >= 2)  # both replicas' LISTEN connections are up

        deployed = deploy(
            admin_a, "wf-x", {"tenant_id": TENANT, "triggers": [event_trigger("cross.event")]}
        )
        assert deployed.status_code == 200, deployed.text
        began = time.monotonic()
        wait_until(lambda: b.gateway.manager.index.of_workflow("wf-x"), timeout=1.0, interval=0.01)
        assert time.monotonic() - began < 1.0
        routed = send_event(b, token, "cross.event", {"via": "b"})
        assert routed.status_code == 202, routed.text
        assert routed.json()["delivered_to"] == 1

        undeployed = admin_a.post("/api/v1/deployment/workflows/wf-x/undeploy")
        assert undeployed.status_code == 200
        wait_until(
            lambda: not b.gateway.manager.index.of_workflow("wf-x"), timeout=1.0, interval=0.01
        )
        assert_error(send_event(b, token, "cross.event", {}), 404, "NO_WAITING_WORKFLOW")

        # and the other way round, for a stand-alone trigger
        created = b.client().post(
            "/api/v1/triggers",
            json={
                "type": "EVENT",
                "workflow_id": "wf-y",
                "tenant_id": TENANT,
                "config": {"event_type": "from.b"},
            },
        )
        assert created.status_code == 201
        wait_until(lambda: a.gateway.manager.index.of_workflow("wf-y"), timeout=1.0, interval=0.01)
        assert send_event(a, token, "from.b", {}).status_code == 202


def test_other_replica_catches_up_by_polling(postgres_url: str, tmp_path: Path) -> None:
    """The periodic reconcile alone (as on SQLite) also brings a replica up to date."""
    with (
        running_gateway(gateway_settings(postgres_url, tmp_path / "a")) as a,
        running_gateway(gateway_settings(postgres_url, tmp_path / "b")) as b,
    ):
        listen = b.gateway.changes._tasks[-1]  # B's LISTEN task: cancel it, polling only
        listen.get_loop().call_soon_threadsafe(listen.cancel)
        wait_until(listen.done)
        admin_a = a.client()
        token = tenant_token(admin_a)
        assert (
            deploy(
                admin_a, "wf-p", {"tenant_id": TENANT, "triggers": [event_trigger("poll.event")]}
            ).status_code
            == 200
        )
        wait_until(lambda: b.gateway.manager.index.of_workflow("wf-p"), timeout=2.0, interval=0.01)
        assert send_event(b, token, "poll.event", {}).status_code == 202
