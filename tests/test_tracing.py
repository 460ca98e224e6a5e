"""Tracing with OpenTelemetry: a request's spans from ingress to the engine call, and its
W3C ``traceparent`` carried through the outbox to a real HTTP engine on loopback.

Spans go to the SDK's in-memory exporter, or over OTLP/HTTP to a collector on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from highway_triggers.core.tracing import Tracing, TracingConfigError, exporter_name, traces_url
from highway_triggers.gateway import Gateway
from highway_triggers.settings import Settings
from highway_triggers.testing import (
    FakeEngine,
    RunningGateway,
    ServerThread,
    gateway_settings,
    running_gateway,
    wait_until,
)

WORKFLOW = "wf-traced"
FIRE_PATH = f"/api/v1/triggers/workflows/{WORKFLOW}/manual"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
INCOMING = f"00-{TRACE_ID}-{PARENT_ID}-01"
OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


@pytest.fixture
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@contextmanager
def traced_gateway(settings: Settings) -> Iterator[tuple[RunningGateway, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    gateway = Gateway(settings, tracing=Tracing.exporting_to(exporter))
    with running_gateway(gateway=gateway) as running:
        yield running, exporter


@pytest.fixture
def engine_settings(database_url: str, tmp_path: Path, engine: tuple[FakeEngine, str]) -> Settings:
    """A gateway delivering to the ``engine`` fixture's fake engine over HTTP."""
    return gateway_settings(database_url, tmp_path, engine="http", engine_url=engine[1])


def fire(running: RunningGateway, headers: dict[str, str] | None = None) -> dict[str, Any]:
    client = running.client()
    deployed = client.post(
        f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
        json={"triggers": [{"type": "MANUAL", "config": {}}]},
    )
    assert deployed.status_code == 200, deployed.text
    fired = client.post(FIRE_PATH, json={"data": {"n": 1}}, headers=headers or {})
    assert fired.status_code == 202, fired.text
    body: dict[str, Any] = fired.json()
    body["request_id"] = fired.headers["x-request-id"]
    return body


def stored_traceparent(running: RunningGateway, dispatch_id: str) -> Any:
    listed = running.client().get("/api/v1/dispatches", params={"workflow_id": WORKFLOW})
    [row] = [d for d in listed.json()["dispatches"] if d["dispatch_id"] == dispatch_id]
    return row["traceparent"]


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def the_fire_ingress(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = [
        s
        for s in spans_named(exporter, "ingress")
        if s.attributes and s.attributes.get("url.path") == FIRE_PATH
    ]
    return span


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def traceparent_of(span: ReadableSpan) -> str:
    return f"00-{trace_id(span):032x}-{span_id(span):016x}-01"


# the trace of a request, to the engine's run -------------------------------------------


def test_an_incoming_trace_is_continued_to_the_engine(
    engine_settings: Settings, engine: tuple[FakeEngine, str]
) -> None:
    fake, _ = engine
    with traced_gateway(engine_settings) as (running, exporter):
        fired = fire(running, {"traceparent": INCOMING})
        [call] = wait_until(lambda: fake.starts())
        wait_until(lambda: spans_named(exporter, "engine.start"))
        stored = stored_traceparent(running, fired["dispatch_ids"][0])

    ingress = the_fire_ingress(exporter)
    [route] = spans_named(exporter, "route")
    [commit] = [s for s in spans_named(exporter, "commit") if parent_id(s) == span_id(route)]
    [engine_call] = spans_named(exporter, "engine.start")
    # one trace, the caller's: ingress → route → commit, and route → engine.start
    for span in (ingress, route, commit, engine_call):
        assert f"{trace_id(span):032x}" == TRACE_ID, span.name
    assert parent_id(ingress) == int(PARENT_ID, 16)
    assert parent_id(route) == span_id(ingress)
    assert parent_id(engine_call) == span_id(route)
    assert (ingress.kind, engine_call.kind) == (SpanKind.SERVER, SpanKind.CLIENT)
    assert ingress.attributes is not None and engine_call.attributes is not None
    assert ingress.attributes["http.response.status_code"] == 202
    assert ingress.attributes["highway.request_id"] == fired["request_id"]
    assert engine_call.attributes["highway.event_id"] == fired["event_id"]
    # the dispatch row kept the route span's traceparent; the engine got its call's span
    assert stored == traceparent_of(route)
    assert call.headers["traceparent"] == traceparent_of(engine_call)


def test_a_retry_from_the_table_joins_the_same_trace(
    engine_settings: Settings, engine: tuple[FakeEngine, str]
) -> None:
    """The second attempt is claimed from the dispatch row: the trace crossed the table."""
    fake, _ = engine
    with traced_gateway(engine_settings) as (running, exporter):
        with fake.down(503):
            fire(running, {"traceparent": INCOMING})
            wait_until(lambda: fake.starts())
        wait_until(lambda: fake.accepted())
        wait_until(lambda: len(spans_named(exporter, "engine.start")) == len(fake.starts()))

    calls = fake.starts()
    attempts = spans_named(exporter, "engine.start")
    assert len(calls) >= 2
    [route] = spans_named(exporter, "route")
    assert [parent_id(span) for span in attempts] == [span_id(route)] * len(calls)
    assert [c.headers["traceparent"] for c in calls] == [traceparent_of(s) for s in attempts]
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR] * (len(calls) - 1) + [
        StatusCode.UNSET
    ]


def test_a_request_without_traceparent_starts_a_trace(
    tmp_path: Path, engine: tuple[FakeEngine, str]
) -> None:
    fake, engine_url = engine
    database_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    settings = gateway_settings(database_url, tmp_path, engine="http", engine_url=engine_url)
    with traced_gateway(settings) as (running, exporter):
        fire(running)
        [call] = wait_until(lambda: fake.starts())
        wait_until(lambda: spans_named(exporter, "engine.start"))
    ingress = the_fire_ingress(exporter)
    assert ingress.parent is None
    assert call.headers["traceparent"].split("-")[1] == f"{trace_id(ingress):032x}"
    assert f"{trace_id(ingress):032x}" != TRACE_ID


# off unless configured ------------------------------------------------------------------


def test_nothing_is_traced_when_not_configured(
    engine_settings: Settings, engine: tuple[FakeEngine, str], no_otel_environment: None
) -> None:
    fake, _ = engine
    with running_gateway(engine_settings) as running:
        assert running.gateway.tracing.enabled is False
        fired = fire(running, {"traceparent": INCOMING})
        [call] = wait_until(lambda: fake.starts())
        stored = stored_traceparent(running, fired["dispatch_ids"][0])
    assert "traceparent" not in call.headers
    assert stored is None


def test_opentelemetry_is_not_imported_when_off(
    tmp_path: Path, bytecode_env: dict[str, str], no_otel_environment: None
) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from highway_triggers.app import create_app\n"
        "from highway_triggers.testing import gateway_settings\n"
        f"settings = gateway_settings('sqlite:///{tmp_path / 'gateway.db'}', Path({str(tmp_path)!r}))\n"
        "app = create_app(settings)\n"
        "app.build_middleware_stack()\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {**os.environ, **bytecode_env}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("endpoint", "environ", "exporter"),
    [
        (None, {}, None),
        ("http://collector:4318", {}, "otlp"),
        ("http://collector:4318", {"OTEL_TRACES_EXPORTER": "none"}, "otlp"),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        (None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "otlp"),
        (None, {"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        (None, {"OTEL_TRACES_EXPORTER": "console"}, "console"),
        (None, {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, None),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None),
    ],
)
def test_when_tracing_is_on(
    tmp_path: Path, endpoint: str | None, environ: dict[str, str], exporter: str | None
) -> None:
    settings = gateway_settings("sqlite://", tmp_path, otel_endpoint=endpoint)
    assert exporter_name(settings, environ) == exporter
    assert Tracing.from_settings(settings, environ).enabled is (exporter is not None)


@pytest.mark.parametrize(
    "endpoint",
    ["collector:4318", "ftp://collector", "http://", "http://[::1", "http://collector:43l8"],
)
def test_the_collector_url_must_be_http(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ValueError, match="HIGHWAY_OTEL_ENDPOINT must be an http:// or https://"):
        gateway_settings("sqlite://", tmp_path, otel_endpoint=endpoint)


def test_an_unknown_exporter_is_refused(tmp_path: Path) -> None:
    settings = gateway_settings("sqlite://", tmp_path)
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_EXPORTER='zipkin' is not supported"):
        exporter_name(settings, {"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://c.example/otlp/v1/traces", "https://c.example/otlp/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


# OTLP/HTTP to a collector --------------------------------------------------------------


class FakeCollector:
    """An OTLP/HTTP trace receiver on loopback: keeps each export's spans."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/traces", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        exported = ExportTraceServiceRequest.FromString(await request.body())
        with self._lock:
            self.requests.append(exported)
        return Response(b"", media_type="application/x-protobuf")

    def spans(self) -> list[tuple[str, str, Any]]:
        """``(service name, span name, span)`` of everything received."""
        found = []
        for exported in self.requests:
            for resource_spans in exported.resource_spans:
                service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                    "service.name"
                ]
                for scope_spans in resource_spans.scope_spans:
                    found += [(service, span.name, span) for span in scope_spans.spans]
        return found


def test_spans_are_exported_over_otlp_http(tmp_path: Path, no_otel_environment: None) -> None:
    collector = FakeCollector()
    server = ServerThread(collector.app()).start()
    try:
        settings = gateway_settings(
            f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, otel_endpoint=server.url
        )
        with running_gateway(settings) as running:
            assert running.gateway.tracing.enabled
            fire(running, {"traceparent": INCOMING})
            wait_until(lambda: running.gateway.engine.calls)
        # the gateway's stop exported what was queued
    finally:
        server.stop()
    traced = {name for service, name, span in collector.spans() if span.trace_id.hex() == TRACE_ID}
    assert traced == {"ingress", "route", "commit", "engine.start"}
    assert {service for service, _, _ in collector.spans()} == {"highway-triggers"}
