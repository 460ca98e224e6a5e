"""Hostile input: oversized header blocks, slow clients, bad identifiers and delivery ids,
admin bodies of the wrong type. Each answers a 4xx with the JSON error body
naming the field, never a 500, a hang or a stored row.

The socket tests run on a SQLite gateway only: they never reach the database.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from highway_triggers.core.errors import ConfigError
from highway_triggers.core.tenants import TenantSpec
from highway_triggers.testing import (
    ADMIN_TOKEN,
    GatewayProcess,
    RunningGateway,
    gateway_env,
    gateway_settings,
    running_gateway,
    tenant_token,
)

TIMEOUT = 1.0
"""The header and body timeouts of the socket tests' gateway (seconds)."""


def error(answer: httpx.Response, status: int, code: str, field: str | None = None) -> Any:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "error" and body["code"] == code, body
    if field is not None:
        assert field in body["message"], body
    return body


def deploy_manual(client: httpx.Client, workflow_id: str, tenant_id: str | None = None) -> None:
    body: dict[str, Any] = {"triggers": [{"type": "MANUAL", "config": {}}]}
    if tenant_id:
        body["tenant_id"] = tenant_id
    answer = client.post(f"/api/v1/deployment/workflows/{workflow_id}/deploy", json=body)
    assert answer.status_code == 200, answer.text


def count(gateway: RunningGateway, table: str) -> int:
    with gateway.gateway.db.engine.connect() as conn:
        rows: int = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
    return rows


# raw sockets against a served gateway -------------------------------------------------


@pytest.fixture(scope="module")
def slow_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A SQLite gateway whose header and body timeouts are :data:`TIMEOUT`."""
    tmp_path = tmp_path_factory.mktemp("slow")
    settings = gateway_settings(
        f"sqlite:///{tmp_path / 'gateway.db'}",
        tmp_path,
        header_timeout_seconds=TIMEOUT,
        body_timeout_seconds=TIMEOUT,
    )
    with running_gateway(settings) as running:
        yield running


def exchange(port: int, data: bytes, patience: float = 10.0) -> tuple[bytes, float]:
    """Send ``data``, then read until the server closes; what it sent and when it closed.
    An AssertionError if it keeps the connection open past ``patience``."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(patience)
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise AssertionError(f"still open after {patience} s: {received[:200]!r}") from None
    return received, time.monotonic() - started


def parsed(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def test_an_unfinished_header_block_is_answered_408_and_closed(
    slow_gateway: RunningGateway,
) -> None:
    raw, took = exchange(slow_gateway.server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1")
    status, headers, body = parsed(raw)
    assert (status, body["code"], headers["connection"]) == (408, "REQUEST_TIMEOUT", "close")
    assert body["status"] == "error" and "headers" in body["message"]
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed(slow_gateway: RunningGateway) -> None:
    raw, took = exchange(slow_gateway.server.port, b"")
    assert raw == b"" and took < TIMEOUT + 3


def test_a_header_block_trickled_past_the_timeout_is_cut_off(
    slow_gateway: RunningGateway,
) -> None:
    with socket.create_connection(("127.0.0.1", slow_gateway.server.port)) as sock:
        sock.settimeout(0.2)
        started, received = time.monotonic(), b""
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        while time.monotonic() - started < TIMEOUT + 5:
            try:
                sock.sendall(b"X")  # one byte every 0.2 s: each would reset an idle timer
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        assert time.monotonic() - started < TIMEOUT + 3
    assert b" 408 " in received.split(b"\r\n", 1)[0]


def test_a_body_shorter_than_its_content_length_is_answered_408(
    slow_gateway: RunningGateway,
) -> None:
    request = (
        b"POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
        b'Content-Length: 100\r\n\r\n{"tenant_id": "slow'
    )
    raw, took = exchange(slow_gateway.server.port, request)
    status, headers, body = parsed(raw)
    assert (status, body["code"], headers["connection"]) == (408, "REQUEST_TIMEOUT", "close")
    assert "body" in body["message"] and took < TIMEOUT + 3
    assert count(slow_gateway, "tenants") == 0


def test_a_body_still_arriving_after_its_answer_is_cut_off(slow_gateway: RunningGateway) -> None:
    request = b"POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    raw, took = exchange(slow_gateway.server.port, request)  # no token: 401 before the body
    status, _, body = parsed(raw)
    assert (status, body["code"]) == (401, "UNAUTHORIZED")
    assert took < 2 * TIMEOUT + 3


def test_a_huge_header_is_refused_before_it_is_buffered(slow_gateway: RunningGateway) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 << 20) + b"\r\n\r\n"
    raw, _ = exchange(slow_gateway.server.port, head)
    status, headers, body = parsed(raw)
    assert (status, body["code"], headers["connection"]) == (431, "HEADERS_TOO_LARGE", "close")
    assert body["status"] == "error" and "65536 bytes" in body["message"]


def test_thousands_of_headers_are_refused(slow_gateway: RunningGateway) -> None:
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(4000))
    raw, _ = exchange(slow_gateway.server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many)
    assert parsed(raw)[0] == 431
    few = b"".join(b"X-H%d: v\r\n" % i for i in range(150))  # 2 KB, but 150 headers
    raw, _ = exchange(
        slow_gateway.server.port,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + few + b"\r\n",
    )
    status, _, body = parsed(raw)
    assert (status, body["code"]) == (431, "HEADERS_TOO_LARGE") and "100 headers" in body["message"]


def test_what_the_parser_refuses_is_answered_with_the_json_error_body(
    slow_gateway: RunningGateway,
) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\n\r\n"
    status, headers, body = parsed(exchange(slow_gateway.server.port, request)[0])
    assert (status, body["code"], headers["content-type"]) == (
        400,
        "MALFORMED_REQUEST",
        "application/json",
    )


def test_serve_bounds_an_unfinished_header_block(
    tmp_path: Path, bytecode_env: dict[str, str]
) -> None:
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    env = {**gateway_env(database, tmp_path, header_timeout_seconds=TIMEOUT), **bytecode_env}
    process = GatewayProcess(env, tmp_path / "serve.log").start()
    try:
        raw, took = exchange(process.port, b"GET /health HTTP/1.1\r\nHost: x\r\n")
    finally:
        process.stop()
    status, _, body = parsed(raw)
    assert (status, body["code"]) == (408, "REQUEST_TIMEOUT") and took < TIMEOUT + 3


# through the API, on SQLite and PostgreSQL --------------------------------------------


def test_a_70k_idempotency_key_is_refused_and_nothing_is_dispatched(
    gateway: RunningGateway,
) -> None:
    client = gateway.client()
    deploy_manual(client, "wf-keys")
    manual = "/api/v1/triggers/workflows/wf-keys/manual"
    answer = client.post(manual, json={}, headers={"Idempotency-Key": "k" * 70_000})
    error(answer, 431, "HEADERS_TOO_LARGE")
    for key in (b"k" * 256, b"a\tb", b"caf\xe9"):
        answer = client.post(manual, json={}, headers={b"Idempotency-Key": key})
        error(answer, 400, "INVALID_DELIVERY_ID", "Idempotency-Key")
    assert count(gateway, "dispatches") == 0
    ok = client.post(manual, json={}, headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 202, ok.text
    assert count(gateway, "dispatches") == 1


def test_every_route_reading_an_idempotency_key_bounds_it(gateway: RunningGateway) -> None:
    admin, token = gateway.client(), tenant_token(gateway, "acme")
    template = {"tenant_id": "acme", "name": "onboard", "workflow_definition": {}}
    assert admin.post("/api/v1/templates", json=template).status_code == 201
    long_key = {"Idempotency-Key": "k" * 300}
    for client, path, body in (
        (gateway.client(token), "/api/v1/events/acme", {"event_name": "e"}),
        (admin, "/api/v1/hooks/tok-1", {}),
        (admin, "/api/v1/templates/onboard/run", {"input": {}}),
        (admin, "/api/v1/triggers/workflows/nothing/manual", {}),
    ):
        answer = client.post(path, json=body, headers=long_key)
        error(answer, 400, "INVALID_DELIVERY_ID", "Idempotency-Key")
    assert count(gateway, "dispatches") == count(gateway, "deliveries") == 0


def test_identifiers_in_paths_and_queries_are_checked(gateway: RunningGateway) -> None:
    client = gateway.client()
    body = {"triggers": [{"type": "MANUAL", "config": {}}]}
    for workflow_id in ("w" * 201, "a%01b", "%2E%2E", "-leading", "a%20b"):
        answer = client.post(f"/api/v1/deployment/workflows/{workflow_id}/deploy", json=body)
        error(answer, 400, "INVALID_IDENTIFIER", "workflow_id")
    deploy_manual(client, "w" * 200)  # the longest identifier
    for path in (
        "/api/v1/deployment/workflows/" + "w" * 201,
        "/api/v1/triggers?workflow_id=" + "w" * 201,
        "/api/v1/triggers?tenant_id=a%00",
        "/api/v1/templates/" + "n" * 201,
        "/api/v1/templates?tenant_id=a%0Ab",
        "/api/v1/waits/%2E",
        "/api/v1/triggers/" + "t" * 201,
    ):
        assert client.get(path).status_code == 400, path
    error(client.post("/api/v1/tenants/a%01/rotate"), 400, "INVALID_IDENTIFIER", "tenant_id")
    error(client.post("/api/v1/hooks/" + "t" * 513, json={}), 400, "INVALID_TOKEN", "token")
    error(client.post("/api/v1/events/a%01b", json={}), 400, "INVALID_IDENTIFIER", "tenant_id")
    listed = client.get("/api/v1/triggers")
    assert listed.status_code == 200 and listed.json()["count"] == 1


def test_tenant_bodies_of_the_wrong_type(gateway: RunningGateway) -> None:
    client = gateway.client()
    for body, field in (
        ({"tenant_id": {"a": 1}}, "tenant_id"),
        ({"tenant_id": ["a"]}, "tenant_id"),
        ({"tenant_id": "t" * 201}, "tenant_id"),
        ({"tenant_id": "ok", "burst": 2**62}, "burst"),
        ({"tenant_id": "ok", "burst": True}, "burst"),
        ({"tenant_id": "ok", "rate_limit_per_second": 1e-320}, "rate_limit_per_second"),
        ({"tenant_id": "ok", "rate_limit_per_second": 1e300}, "rate_limit_per_second"),
    ):
        error(client.post("/api/v1/tenants", json=body), 422, "VALIDATION_ERROR", field)
    assert count(gateway, "tenants") == 0
    limits = {"rate_limit_per_second": 0.001, "burst": 1_000_000}
    assert client.post("/api/v1/tenants", json={"tenant_id": "ok", **limits}).status_code == 201


def test_tenant_limits_must_be_finite() -> None:
    for value in (math.nan, math.inf):
        with pytest.raises(ConfigError) as refused:
            TenantSpec.parse({"tenant_id": "t", "rate_limit_per_second": value})
        assert refused.value.errors[0]["field"] == "rate_limit_per_second"


def test_deploy_and_trigger_bodies_name_bad_identifiers(gateway: RunningGateway) -> None:
    client = gateway.client()
    manual = [{"type": "MANUAL", "config": {}}]
    body: dict[str, Any]
    for body, field in (
        ({"tenant_id": {"x": 1}, "triggers": manual}, "tenant_id"),
        ({"tenant_id": "a\nb", "triggers": manual}, "tenant_id"),
    ):
        answer = client.post("/api/v1/deployment/workflows/wf-t/deploy", json=body)
        error(answer, 422, "VALIDATION_ERROR", field)
    event = {"type": "EVENT", "config": {"event_type": "e"}}
    for body, field in (
        ({**event, "workflow_id": "x", "tenant_id": ["a"]}, "tenant_id"),
        ({**event, "workflow_id": {"x": 1}}, "workflow_id"),
        ({**event, "workflow_id": "a/../b"}, "workflow_id"),
        ({**event, "template": ["t"]}, "template"),
    ):
        error(client.post("/api/v1/triggers", json=body), 422, "VALIDATION_ERROR", field)
    templates = (
        ({"tenant_id": ["a"], "name": "n", "workflow_definition": {}}, "tenant_id"),
        ({"tenant_id": "a", "name": "n", "workflow_definition": {"id": "a\x01"}}, "id"),
    )
    for body, field in templates:
        error(client.post("/api/v1/templates", json=body), 422, "VALIDATION_ERROR", field)
    run = client.post("/api/v1/templates/n/run", json={"tenant_id": {"a": 1}})
    error(run, 422, "VALIDATION_ERROR", "tenant_id")
    wait: dict[str, Any] = {"workflow_run_id": "r", "event_name": "e", "token": "t"}
    for body, field in (
        ({**wait, "tenant_id": ["acme"]}, "tenant_id"),
        ({**wait, "tenant_id": "acme", "workflow_run_id": "r\x07"}, "workflow_run_id"),
    ):
        error(client.post("/api/v1/waits", json=body), 422, "VALIDATION_ERROR", field)
    listed = client.get("/api/v1/triggers")
    assert listed.status_code == 200 and listed.json()["count"] == 0
    deployed = client.get("/api/v1/deployment/workflows/wf-t").json()
    assert deployed["status"] == "UNDEPLOYED"


def test_event_names_and_correlation_keys_are_bounded(gateway: RunningGateway) -> None:
    client = gateway.client(tenant_token(gateway, "acme"))
    for body, field in (
        ({"event_name": "e" * 513}, "event_name"),
        ({"event_name": "a\x01b"}, "event_name"),
        ({"event_name": "e", "correlation_key": "k" * 513}, "correlation_key"),
        ({"event_name": "e", "correlation_key": "line\nbreak"}, "correlation_key"),
    ):
        answer = client.post("/api/v1/events/acme", json=body)
        error(answer, 400, "MALFORMED_BODY", field)
