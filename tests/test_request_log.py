"""The request log: access lines, request ids, and the event id in every line about an event.

Real gateways on loopback, their logging configured as ``serve`` configures it (text or
JSON), written to a buffer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from highway_triggers.app import GatewayApp
from highway_triggers.core.http import handle_unexpected
from highway_triggers.core.request_log import sane_request_id
from highway_triggers.core.tracing import Tracing
from highway_triggers.testing import (
    FakeEngine,
    ServerThread,
    captured_logs,
    gateway_settings,
    running_gateway,
    wait_until,
)

WORKFLOW = "wf-request-log"
TEXT_ACCESS = re.compile(
    r"INFO highway_triggers\.access: (?P<method>\S+) (?P<path>\S+) (?P<status>\d+)"
    r" (?P<duration_ms>\d+\.\d+)ms (?P<client>\S+) request_id=(?P<request_id>\S+)"
    r"(?: event_id=(?P<event_id>\S+))?$"
)


def access_lines(written: str, log_format: str) -> list[dict[str, Any]]:
    """The access lines written, as their fields."""
    if log_format == "json":
        entries = [json.loads(line) for line in written.splitlines()]
        return [e for e in entries if e["logger"] == "highway_triggers.access"]
    found = []
    for line in written.splitlines():
        if "highway_triggers.access" in line:
            match = TEXT_ACCESS.search(line)
            assert match, line
            fields: dict[str, Any] = match.groupdict()
            fields["status"] = int(fields["status"])
            fields["duration_ms"] = float(fields["duration_ms"])
            found.append(fields)
    return found


@pytest.fixture(params=["text", "json"])
def log_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def logged_gateway(tmp_path: Path, log_format: str) -> Iterator[tuple[Any, Any]]:
    """A gateway (SQLite: the request log does not touch the database) and its log."""
    settings = gateway_settings(
        f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, log_format=log_format
    )
    with captured_logs(settings) as log, running_gateway(settings) as running:
        yield running, log


def test_access_lines_name_each_request(logged_gateway: tuple[Any, Any], log_format: str) -> None:
    running, log = logged_gateway
    client = running.client()
    answers = [
        client.get("/health", params={"token": "query-secret-1"}),
        client.get("/api/v1/triggers", headers={"Authorization": "Bearer wrong"}),
        client.post("/api/v1/hooks/hook-secret-2", json={}),
        client.delete("/health"),
        client.get("/no/such/path"),
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 405, 404]

    wait_until(lambda: len(access_lines(log.getvalue(), log_format)) >= len(answers))
    lines = access_lines(log.getvalue(), log_format)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/health", 200),
        ("GET", "/api/v1/triggers", 401),
        ("POST", "/api/v1/hooks/[REDACTED]", 404),
        ("DELETE", "/health", 405),
        ("GET", "/no/such/path", 404),
    ]
    for line, answer in zip(lines, answers, strict=True):
        assert line["client"] == "127.0.0.1"
        assert 0 < line["duration_ms"] < 30_000
        assert line["request_id"] == answer.headers["x-request-id"]
    assert len({line["request_id"] for line in lines}) == len(lines)
    # only the hook's request routed an event: only its line names one
    assert [bool(line.get("event_id")) for line in lines] == [False, False, True, False, False]
    written = log.getvalue()
    for secret in ("query-secret-1", "hook-secret-2", "token=", "wrong"):
        assert secret not in written, written


def test_request_ids_taken_made_or_replaced(
    logged_gateway: tuple[Any, Any], log_format: str
) -> None:
    running, log = logged_gateway
    client = running.client(token=None)
    given = "req-0123456789abcdef:/.~!"
    taken = client.get("/health", headers={"X-Request-ID": given})
    assert taken.headers["x-request-id"] == given
    made = [client.get("/health").headers["x-request-id"] for _ in range(3)]
    assert all(made) and len(set(made)) == 3, made
    # errors echo it too, a given id or a made one
    refused = client.get("/api/v1/triggers", headers={"X-Request-ID": "err-id-1"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "err-id-1"

    insane = [
        "x" * 129,
        "has space",
        "tab\there",
        "secret=looks-like-one",
        "whsec_abcdef",
    ]
    replaced = []
    for value in insane:
        answer = client.get("/health", headers={"X-Request-ID": value})
        assert answer.status_code == 200
        replaced.append(answer.headers["x-request-id"])
        assert replaced[-1] != value and replaced[-1] not in made
    # bytes that are not ASCII, as a client may send them
    raw = httpx.Headers([(b"X-Request-ID", "caf\xe9".encode("latin-1"))])
    answer = client.get("/health", headers=raw)
    assert answer.headers["x-request-id"] not in ("caf\xe9", "")
    assert len(set(replaced)) == len(insane)

    wait_until(lambda: len(access_lines(log.getvalue(), log_format)) >= 11)
    logged = [line["request_id"] for line in access_lines(log.getvalue(), log_format)]
    assert logged[:5] == [given, *made, "err-id-1"]
    assert logged[5:10] == replaced
    for value in insane:
        assert value not in log.getvalue()


@pytest.mark.parametrize(
    ("value", "sane"),
    [
        (b"a", True),
        (b"!" * 128, True),
        (b"0192f0c3-1111-7abc-8def-0123456789ab", True),
        (b"", False),
        (b"a" * 129, False),
        (b"a b", False),
        (b"a\x7f", False),
        (b"a\x00", False),
        ("é".encode(), False),
        (b"req-42", True),
        (b"token=xyz", False),
        (b"hwk_abc", False),
    ],
)
def test_sane_request_id(value: bytes, sane: bool) -> None:
    assert (sane_request_id(value) is not None) is sane


def test_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    settings = gateway_settings(
        f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, trusted_proxies="127.0.0.1/32"
    )
    with captured_logs(settings) as log, running_gateway(settings) as running:
        client = running.client()
        client.get("/health", headers={"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
        client.get("/health")
        wait_until(lambda: len(access_lines(log.getvalue(), "text")) >= 2)
    assert [line["client"] for line in access_lines(log.getvalue(), "text")] == [
        "203.0.113.9",
        "127.0.0.1",
    ]


def test_a_forwarded_for_from_an_untrusted_peer_is_not_believed(tmp_path: Path) -> None:
    settings = gateway_settings(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    with captured_logs(settings) as log, running_gateway(settings) as running:
        running.client().get("/health", headers={"X-Forwarded-For": "203.0.113.9"})
        wait_until(lambda: access_lines(log.getvalue(), "text"))
    assert [line["client"] for line in access_lines(log.getvalue(), "text")] == ["127.0.0.1"]


def test_access_log_can_be_turned_off(tmp_path: Path) -> None:
    settings = gateway_settings(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, access_log=False)
    with captured_logs(settings) as log, running_gateway(settings) as running:
        answer = running.client().get("/health")
        assert answer.status_code == 200 and answer.headers["x-request-id"]
    assert "highway_triggers.access" not in log.getvalue()
    assert "gateway started" in log.getvalue()  # the rest of the log is still written


def test_an_unexpected_error_is_logged_and_echoes_the_request_id(
    tmp_path: Path, log_format: str
) -> None:
    """The request log is outside the handler of unexpected errors: it sees their 500."""

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    settings = gateway_settings(
        f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, log_format=log_format
    )
    app = GatewayApp(
        routes=[Route("/boom", boom)], exception_handlers={Exception: handle_unexpected}
    )
    app.state.core = SimpleNamespace(settings=settings, tracing=Tracing())
    with captured_logs(settings) as log:
        server = ServerThread(app).start()
        try:
            answer = httpx.get(f"{server.url}/boom", headers={"X-Request-ID": "boom-1"})
        finally:
            server.stop()
    assert answer.status_code == 500 and answer.json()["code"] == "INTERNAL_ERROR"
    assert answer.headers["x-request-id"] == "boom-1"
    [line] = access_lines(log.getvalue(), log_format)
    assert (line["method"], line["path"], line["status"], line["request_id"]) == (
        "GET",
        "/boom",
        500,
        "boom-1",
    )


# the event id, from the route to the engine call ----------------------------------------


def test_every_line_about_an_event_names_it(
    database_url: str, tmp_path: Path, engine: tuple[FakeEngine, str]
) -> None:
    """DEBUG lines of routing and delivery, the access line of the request, and the
    warning of a failed engine call all carry the event's id (JSON ``event_id``)."""
    fake, engine_url = engine
    settings = gateway_settings(
        database_url,
        tmp_path,
        engine="http",
        engine_url=engine_url,
        log_format="json",
        log_level="DEBUG",
    )
    with captured_logs(settings) as log, running_gateway(settings) as running:
        client = running.client()
        deployed = client.post(
            f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
            json={"triggers": [{"type": "MANUAL", "config": {}}]},
        )
        assert deployed.status_code == 200, deployed.text
        with fake.down(503):
            fired = client.post(
                f"/api/v1/triggers/workflows/{WORKFLOW}/manual",
                json={"data": {"n": 1}},
                headers={"X-Request-ID": "fire-1"},
            )
            assert fired.status_code == 202, fired.text
            wait_until(lambda: len(fake.starts()) >= 1)
        event_id = fired.json()["event_id"]
        [dispatch_id] = fired.json()["dispatch_ids"]
        delivered = re.compile(rf"dispatch {dispatch_id} attempt \d+ delivered")
        wait_until(lambda: delivered.search(log.getvalue()))

    entries = [json.loads(line) for line in log.getvalue().splitlines()]
    about = [e for e in entries if e.get("event_id") == event_id]
    said = [(e["logger"], e["level"], e["message"]) for e in about]
    assert ("highway_triggers.core.router", "DEBUG", "routed MANUAL: 1 started, 0 resumed") in said
    access = [e for e in about if e["logger"] == "highway_triggers.access"]
    assert [(e["path"], e["status"], e["request_id"]) for e in access] == [
        (f"/api/v1/triggers/workflows/{WORKFLOW}/manual", 202, "fire-1")
    ]
    failed = [e for e in about if e["level"] == "WARNING"]
    assert failed and f"dispatch {dispatch_id} attempt 1 failed" in failed[0]["message"]
    assert any(
        logger == "highway_triggers.core.dispatcher" and delivered.fullmatch(message)
        for logger, _, message in said
    ), said
    # and no line about the dispatch lacks the event: every one is in ``about``
    for entry in entries:
        if dispatch_id in entry["message"]:
            assert entry.get("event_id") == event_id, entry
    # lines of other requests name neither this event nor this request
    for entry in entries:
        if entry.get("request_id") not in (None, "fire-1"):
            assert entry.get("event_id") != event_id, entry
