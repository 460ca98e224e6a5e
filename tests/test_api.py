"""The HTTP API as users see it: auth, error bodies, limits, health, metrics, OpenAPI, tenants."""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from highway_triggers.core.auth import create_admin_key
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.db.models import ApiKey, Tenant
from highway_triggers.testing import (
    ADMIN_TOKEN,
    RunningGateway,
    gateway_settings,
    running_gateway,
    tenant_jwt,
    wait_until,
)

API_KEYS = ApiKey.__table__  # type: ignore[attr-defined]
TENANTS = Tenant.__table__  # type: ignore[attr-defined]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["code"] == code
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", body["code"])
    assert isinstance(body["message"], str) and body["message"]
    return body


# admin auth -----------------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/api/v1/triggers"),
    ("POST", "/api/v1/triggers"),
    ("GET", "/api/v1/dispatches"),
    ("POST", "/api/v1/tenants"),
    ("POST", "/api/v1/tenants/t/rotate"),
    ("POST", "/api/v1/deployment/workflows/wf/deploy"),
    ("POST", "/api/v1/deployment/workflows/wf/undeploy"),
    ("GET", "/api/v1/deployment/workflows/wf"),
    ("GET", "/health/detailed"),
]


def test_admin_routes_need_a_token(gateway: RunningGateway) -> None:
    anonymous = gateway.client(token=None)
    wrong = gateway.client(token="not-the-admin-token")
    for method, path in ADMIN_ROUTES:
        assert_error(anonymous.request(method, path, json={}), 401, "UNAUTHORIZED")
        assert_error(wrong.request(method, path, json={}), 401, "UNAUTHORIZED")
    basic = anonymous.get("/api/v1/triggers", headers={"Authorization": "Basic dGVzdDp0ZXN0"})
    assert_error(basic, 401, "UNAUTHORIZED")
    # nothing was created by the refused requests
    assert gateway.client().get("/api/v1/triggers").json()["count"] == 0


def test_admin_api_keys(gateway: RunningGateway) -> None:
    db = gateway.gateway.db
    key = create_admin_key(db, "ci")
    client = gateway.client(token=key)
    assert client.get("/api/v1/triggers").status_code == 200
    assert (
        client.post(
            "/api/v1/deployment/workflows/wf/deploy", json={"triggers": [{"type": "MANUAL"}]}
        ).status_code
        == 200
    )

    with db.engine.connect() as conn:
        rows = conn.execute(select(API_KEYS)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["name"] == "ci"
    assert rows[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    stored = " ".join(str(v) for v in rows[0].values())
    assert key not in stored

    # a key that differs in one character is refused
    tampered = key[:-1] + ("a" if key[-1] != "a" else "b")
    assert_error(gateway.client(token=tampered).get("/api/v1/triggers"), 401, "UNAUTHORIZED")
    second = create_admin_key(db, "ops")
    assert second != key
    assert gateway.client(token=second).get("/api/v1/triggers").status_code == 200


# error bodies -----------------------------------------------------------------------------------


def test_malformed_json(gateway: RunningGateway) -> None:
    client = gateway.client()
    for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'):
        answer = client.post(
            "/api/v1/deployment/workflows/wf/deploy",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert_error(answer, 400, "MALFORMED_BODY")
    assert_error(client.post("/api/v1/tenants", content=b"{"), 400, "MALFORMED_BODY")
    assert_error(client.post("/api/v1/triggers", content=b"nope"), 400, "MALFORMED_BODY")


def test_wrong_method_and_unknown_route(gateway: RunningGateway) -> None:
    client = gateway.client()
    assert_error(client.get("/api/v1/deployment/workflows/wf/deploy"), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.delete("/api/v1/tenants"), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.post("/health"), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.get("/api/v1/events/acme"), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(gateway.client(token=None).get("/nope"), 404, "NOT_FOUND")
    assert_error(
        client.post("/api/v1/triggers/workflows/wf/manual/extra", json={}), 404, "NOT_FOUND"
    )


@pytest.fixture
def small_gateway(database_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(gateway_settings(database_url, tmp_path, max_body_bytes=1024)) as running:
        yield running


def test_body_over_limit(small_gateway: RunningGateway) -> None:
    client = small_gateway.client()
    deploy = "/api/v1/deployment/workflows/wf/deploy"
    small = {"triggers": [{"type": "MANUAL", "config": {}}], "pad": "x" * 500}
    assert client.post(deploy, json=small).status_code == 200
    big = {"triggers": [{"type": "MANUAL", "config": {}}], "pad": "x" * 2000}
    assert_error(client.post(deploy, json=big), 413, "PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"triggers": [], "pad": "'
        for _ in range(40):
            yield b"y" * 100
        yield b'"}'

    assert_error(client.post(deploy, content=chunks()), 413, "PAYLOAD_TOO_LARGE")
    # the refused bodies changed nothing
    status = client.get("/api/v1/deployment/workflows/wf").json()
    assert len(status["triggers"]) == 1

    # ingress is limited too, before any token check
    assert_error(
        small_gateway.client(token=None).post("/api/v1/events/acme", json={"payload": "z" * 5000}),
        413,
        "PAYLOAD_TOO_LARGE",
    )


# health, metrics, OpenAPI ---------------------------------------------------------------------------


def test_health(gateway: RunningGateway) -> None:
    answer = gateway.client(token=None).get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"service": "highway-triggers", "status": "healthy"}


def test_health_detailed(gateway: RunningGateway) -> None:
    client = gateway.client()
    client.post("/api/v1/deployment/workflows/wf/deploy", json={"triggers": [{"type": "MANUAL"}]})
    body = client.get("/health/detailed").json()
    assert body["status"] == "healthy", body["database"]
    assert body["problems"] == []
    assert body["database"]["status"] == "ok"
    assert body["database"]["dialect"] in ("sqlite", "postgresql")
    loaded = {p["name"] for p in body["plugins"]["loaded"]}
    assert {"highway_triggers.builtin.manual", "highway_triggers.builtin.event"} <= loaded
    assert body["plugins"]["failed"] == []
    assert body["triggers"]["by_type"] == {"MANUAL": 1}
    assert isinstance(body["dispatches"], dict)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, whatever the label order."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def test_metrics(gateway: RunningGateway) -> None:
    client = gateway.client()
    secret = client.post("/api/v1/tenants", json={"tenant_id": "acme"}).json()["jwt_secret"]
    client.post(
        "/api/v1/deployment/workflows/wf/deploy",
        json={
            "tenant_id": "acme",
            "triggers": [{"type": "EVENT", "config": {"event_type": "ping"}}],
        },
    )
    tenant = gateway.client(token=tenant_jwt(secret, "acme"))
    assert tenant.post("/api/v1/events/acme", json={"event_name": "ping"}).status_code == 202
    assert tenant.post("/api/v1/events/acme", json={"event_name": "pong"}).status_code == 404
    wait_until(lambda: gateway.gateway.engine.calls)

    answer = gateway.client(token=None).get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert metric(text, "highway_events_routed_total", subtype="EVENT", outcome="delivered") == 1
    assert metric(text, "highway_events_routed_total", subtype="EVENT", outcome="unmatched") == 1
    assert metric(text, "highway_routing_seconds_count", subtype="EVENT") == 2
    assert metric(text, "highway_routing_seconds_bucket", subtype="EVENT", le="+Inf") == 2
    assert (metric(text, "highway_routing_seconds_sum", subtype="EVENT") or 0) > 0
    assert (
        "# TYPE highway_dispatches_total counter" in text
        or "# TYPE highway_dispatches counter" in text
    )
    written = [metric(text, "highway_dispatches_total", status=s) for s in ("written", "pending")]
    assert any(v is not None and v >= 1 for v in written), text
    assert metric(text, "highway_active_triggers", subtype="EVENT") == 1

    def delivered() -> float | None:
        return metric(
            gateway.client(token=None).get("/metrics").text,
            "highway_dispatches_total",
            status="delivered",
        )

    wait_until(lambda: delivered() == 1)


def test_metrics_are_per_gateway(gateway: RunningGateway) -> None:
    text = gateway.client(token=None).get("/metrics").text
    assert metric(text, "highway_events_routed_total", subtype="EVENT", outcome="delivered") is None
    assert "# TYPE highway_active_triggers gauge" in text


def test_openapi(gateway: RunningGateway) -> None:
    answer = gateway.client(token=None).get("/openapi.json")
    assert answer.status_code == 200
    spec = answer.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    expected = {
        "/health": ["get"],
        "/health/detailed": ["get"],
        "/metrics": ["get"],
        "/api/v1/deployment/workflows/{workflow_id}/deploy": ["post"],
        "/api/v1/deployment/workflows/{workflow_id}/undeploy": ["post"],
        "/api/v1/deployment/workflows/{workflow_id}": ["get"],
        "/api/v1/triggers": ["get", "post"],
        "/api/v1/triggers/{trigger_id}": ["put", "delete"],
        "/api/v1/triggers/workflows/{workflow_id}/manual": ["post"],
        "/api/v1/tenants": ["post"],
        "/api/v1/tenants/{tenant_id}/rotate": ["post"],
        "/api/v1/events/{tenant_id}": ["post"],
        "/api/v1/templates": ["get", "post"],
        "/api/v1/templates/{name}": ["get", "put", "delete"],
        "/api/v1/templates/{name}/run": ["post"],
        "/api/v1/dispatches": ["get"],
        "/api/v1/dispatches/{dispatch_id}/retry": ["post"],
    }
    for path, methods in expected.items():
        assert path in paths, path
        for method in methods:
            assert method in paths[path], (path, method)
    deploy = paths["/api/v1/deployment/workflows/{workflow_id}/deploy"]["post"]
    assert deploy["parameters"][0]["name"] == "workflow_id"
    assert deploy["summary"]
    assert "security" in deploy
    assert "security" not in paths["/health"]["get"]


# tenants -------------------------------------------------------------------------------------------


def test_tenant_create_stores_secret_encrypted(gateway: RunningGateway) -> None:
    client = gateway.client()
    created = client.post(
        "/api/v1/tenants", json={"tenant_id": "acme", "rate_limit_per_second": 5, "burst": 10}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["tenant_id"] == "acme"
    secret = body["jwt_secret"]
    assert isinstance(secret, str) and len(secret) >= 32

    with gateway.gateway.db.engine.connect() as conn:
        row = conn.execute(select(TENANTS).where(TENANTS.c.tenant_id == "acme")).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert secret not in stored
    assert row["jwt_secret_encrypted"] != secret
    assert row["rate_limit_per_second"] == 5 and row["burst"] == 10

    # the secret signs working tokens
    deploy = client.post(
        "/api/v1/deployment/workflows/wf/deploy",
        json={
            "tenant_id": "acme",
            "triggers": [{"type": "EVENT", "config": {"event_type": "ping"}}],
        },
    )
    assert deploy.status_code == 200
    event = gateway.client(token=tenant_jwt(secret, "acme")).post(
        "/api/v1/events/acme", json={"event_name": "ping"}
    )
    assert event.status_code == 202, event.text

    assert_error(client.post("/api/v1/tenants", json={"tenant_id": "acme"}), 409, "TENANT_EXISTS")


def test_tenant_create_validation(gateway: RunningGateway) -> None:
    client = gateway.client()
    for body in (
        {},
        {"tenant_id": 5},
        {"tenant_id": "has space"},
        {"tenant_id": "a/b"},
        {"tenant_id": ""},
        {"tenant_id": "ok", "rate_limit_per_second": 0},
        {"tenant_id": "ok", "burst": 0},
        {"tenant_id": "ok", "burst": "many"},
    ):
        assert_error(client.post("/api/v1/tenants", json=body), 422, "VALIDATION_ERROR")


def test_tenants_are_listed_in_pages_without_their_secrets(gateway: RunningGateway) -> None:
    client = gateway.client()
    secrets = [
        client.post("/api/v1/tenants", json={"tenant_id": name, "burst": 5}).json()["jwt_secret"]
        for name in ("gamma", "alpha", "beta")
    ]
    first = client.get("/api/v1/tenants", params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [t["tenant_id"] for t in page["tenants"]] == ["alpha", "beta"]
    assert page["tenants"][0]["burst"] == 5 and page["next_cursor"] == "beta"
    rest = client.get("/api/v1/tenants", params={"limit": 2, "cursor": "beta"}).json()
    assert [t["tenant_id"] for t in rest["tenants"]] == ["gamma"] and rest["next_cursor"] is None
    assert not any(secret in first.text for secret in secrets)
    assert "jwt_secret" not in first.text
    assert_error(gateway.client(token=None).get("/api/v1/tenants"), 401, "UNAUTHORIZED")


def test_a_tenant_secret_sealed_with_another_key_is_a_clear_503(gateway: RunningGateway) -> None:
    secret = gateway.client().post("/api/v1/tenants", json={"tenant_id": "acme"}).json()
    with gateway.gateway.db.engine.begin() as conn:  # as if the gateway's secret key changed
        foreign = SecretCipher("another-secret-key").encrypt(secret["jwt_secret"])
        conn.execute(update(TENANTS).values(jwt_secret_encrypted=foreign))
    tenant = gateway.client(token=tenant_jwt(secret["jwt_secret"], "acme"))
    answer = tenant.post("/api/v1/events/acme", json={"event_name": "ping"})
    assert_error(answer, 503, "SECRET_KEY_MISMATCH")


def test_tenant_rotate(gateway: RunningGateway) -> None:
    client = gateway.client()
    old = client.post("/api/v1/tenants", json={"tenant_id": "acme"}).json()["jwt_secret"]
    client.post(
        "/api/v1/deployment/workflows/wf/deploy",
        json={
            "tenant_id": "acme",
            "triggers": [{"type": "EVENT", "config": {"event_type": "ping"}}],
        },
    )
    old_token = tenant_jwt(old, "acme")
    assert (
        gateway.client(token=old_token)
        .post("/api/v1/events/acme", json={"event_name": "ping"})
        .status_code
        == 202
    )

    rotated = client.post("/api/v1/tenants/acme/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["jwt_secret"]
    assert new != old
    assert rotated.json()["tenant_id"] == "acme"

    answer = gateway.client(token=old_token).post(
        "/api/v1/events/acme", json={"event_name": "ping"}
    )
    assert_error(answer, 401, "INVALID_TOKEN")
    assert (
        gateway.client(token=tenant_jwt(new, "acme"))
        .post("/api/v1/events/acme", json={"event_name": "ping"})
        .status_code
        == 202
    )
    with gateway.gateway.db.engine.connect() as conn:
        stored = conn.execute(select(TENANTS.c.jwt_secret_encrypted)).scalar_one()
    assert new not in stored and old not in stored

    assert_error(client.post("/api/v1/tenants/nobody/rotate"), 404, "TENANT_NOT_FOUND")


def test_events_take_an_admin_token_for_system_events(gateway: RunningGateway) -> None:
    client = gateway.client()
    client.post("/api/v1/tenants", json={"tenant_id": "acme"})
    client.post(
        "/api/v1/deployment/workflows/wf/deploy",
        json={
            "tenant_id": "acme",
            "triggers": [{"type": "EVENT", "config": {"event_type": "workflow_completed"}}],
        },
    )
    event = {"event_name": "workflow_completed", "payload": {"run": "r1"}}
    answer = client.post("/api/v1/events/acme", json=event)  # the admin token
    assert answer.status_code == 202, answer.text
    assert answer.json()["delivered_to"] == 1
    refused = gateway.client(token="not-the-admin-token").post("/api/v1/events/acme", json=event)
    assert_error(refused, 401, "INVALID_TOKEN")
    assert_error(
        gateway.client(token=None).post("/api/v1/events/acme", json=event), 401, "UNAUTHORIZED"
    )


# dispatches --------------------------------------------------------------------------------------------


def test_dispatch_list_and_filters(gateway: RunningGateway) -> None:
    client = gateway.client()
    for workflow in ("wf-1", "wf-2"):
        client.post(
            f"/api/v1/deployment/workflows/{workflow}/deploy",
            json={"triggers": [{"type": "MANUAL"}]},
        )
        client.post(f"/api/v1/triggers/workflows/{workflow}/manual", json={"data": {}})
    assert client.get("/api/v1/dispatches").json()["count"] == 2
    only = client.get("/api/v1/dispatches", params={"workflow_id": "wf-2"}).json()["dispatches"]
    assert [d["workflow_id"] for d in only] == ["wf-2"]
    wait_until(
        lambda: (
            client.get("/api/v1/dispatches", params={"status": "delivered"}).json()["count"] == 2
        )
    )
    assert client.get("/api/v1/dispatches", params={"status": "dead"}).json()["count"] == 0
    assert client.get("/api/v1/dispatches", params={"limit": "1"}).json()["count"] == 1
    assert_error(client.get("/api/v1/dispatches", params={"limit": "x"}), 400, "INVALID_PARAMETER")
    assert_error(client.post("/api/v1/dispatches/nope/retry"), 404, "DISPATCH_NOT_FOUND")
    delivered = client.get("/api/v1/dispatches").json()["dispatches"][0]["dispatch_id"]
    assert_error(client.post(f"/api/v1/dispatches/{delivered}/retry"), 409, "NOT_RETRYABLE")


def test_client_leaving_mid_body_is_not_an_error(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    logging.getLogger("uvicorn.error").addHandler(caplog.handler)  # it does not propagate
    host, port = gateway.url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(
                b"POST /api/v1/triggers HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {ADMIN_TOKEN}\r\n".encode()
                + b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"type'
            )
    assert gateway.client().get("/health").status_code == 200
    time.sleep(0.2)
    logging.getLogger("uvicorn.error").removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
