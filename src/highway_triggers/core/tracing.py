"""Tracing with OpenTelemetry: spans for a request (``ingress``), its routing (``route``),
the outbox commit (``commit``) and the engine call (``engine.start``, ``engine.resume``).

Off unless configured, and then nothing of OpenTelemetry is imported: the gateway's
parts look at :attr:`Tracing.enabled` and nothing else. On with ``HIGHWAY_OTEL_ENDPOINT``
(a collector's OTLP/HTTP URL) or the standard variables ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``
or ``none``); it needs ``highway-triggers[otel]``.

A request's W3C ``traceparent`` is continued. The trace crosses the outbox with each
dispatch row, which keeps the ``traceparent`` of its route span; the engine call's span
continues it and sends its own to the engine (:data:`OUTGOING`), so the run it starts
or resumes joins the trace of the request that caused it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span
    from starlette.types import Scope

    from highway_triggers.core.dispatches import DispatchJob
    from highway_triggers.core.event import RouteResult
    from highway_triggers.core.ingress import Intake
    from highway_triggers.settings import Settings

T = TypeVar("T")

TRACER_NAME = "highway_triggers"
SERVICE_NAME = "highway-triggers"
"""``service.name`` of the spans, unless ``OTEL_SERVICE_NAME`` names another."""
TRACES_PATH = "/v1/traces"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
EXPORTERS = ("otlp", "console", "none")

OUTGOING: ContextVar[str | None] = ContextVar("highway_outgoing_traceparent", default=None)
"""The ``traceparent`` header for the engine call under way (its span's), else ``None``;
an engine adapter sends it with its requests."""


class TracingConfigError(ValueError):
    """Tracing is configured but cannot run: an unknown exporter, or no OpenTelemetry."""


def exporter_name(settings: Settings, environ: Mapping[str, str] = os.environ) -> str | None:
    """The span exporter configured: ``otlp``, ``console``, or ``None`` (tracing off)."""
    if settings.otel_endpoint:
        return "otlp"
    chosen = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not chosen:
        return "otlp" if any(environ.get(name) for name in ENDPOINT_VARIABLES) else None
    if chosen not in EXPORTERS:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={chosen!r} is not supported (use {', '.join(EXPORTERS)})"
        )
    return None if chosen == "none" else chosen


def traces_url(endpoint: str) -> str:
    """A collector's OTLP/HTTP traces URL: ``endpoint`` if it names ``/v1/traces``, else
    ``endpoint`` + ``/v1/traces``."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


class Tracing:
    """The gateway's spans. Without a provider tracing is off, and only :attr:`enabled`
    may be looked at."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.enabled = provider is not None
        self._provider = provider
        if provider is not None:
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            self._tracer = provider.get_tracer(TRACER_NAME)
            self._w3c = TraceContextTextMapPropagator()

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> Tracing:
        """Off, or exporting as configured (see the module's documentation)."""
        exporter = exporter_name(settings, environ)
        if exporter is None:
            return cls()
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter
        except ImportError as exc:
            raise TracingConfigError(
                "tracing (HIGHWAY_OTEL_ENDPOINT or OTEL_*) needs OpenTelemetry:"
                " pip install 'highway-triggers[otel]'"
            ) from exc
        if exporter == "console":
            return cls.exporting_to(ConsoleSpanExporter(), batch=True)
        endpoint = settings.otel_endpoint
        return cls.exporting_to(
            OTLPSpanExporter(endpoint=traces_url(endpoint) if endpoint else None), batch=True
        )

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, *, batch: bool = False) -> Tracing:
        """Spans to ``exporter``: batched in the background, or each as it ends."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
        provider = TracerProvider(resource=Resource.create(named))
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(provider)

    def shutdown(self) -> None:
        """Export the spans still queued (blocks up to the exporter's timeout)."""
        if self._provider is not None:
            self._provider.shutdown()

    # --- spans -----------------------------------------------------------------------

    @contextmanager
    def ingress(self, scope: Scope, path: str, request_id: str) -> Iterator[Callable[[int], None]]:
        """A server span for one request, the child of its ``traceparent`` if it has one;
        yields what to call with the response's status."""
        from opentelemetry.trace import SpanKind

        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        attributes = {
            "http.request.method": scope["method"],
            "url.path": path,
            "highway.request_id": request_id,
        }
        if scope.get("client"):
            attributes["client.address"] = scope["client"][0]
        with self._tracer.start_as_current_span(
            "ingress",
            context=self._w3c.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            yield lambda status: _answered(span, status)

    async def route(
        self, intake: Intake, submit: Callable[[Intake], Awaitable[RouteResult]], began: float
    ) -> RouteResult:
        """``submit(intake)`` in a span whose ``traceparent`` the intake's dispatches keep;
        the span starts at ``began`` (``perf_counter``), when matching began."""
        attributes: dict[str, Any] = {"highway.event_id": intake.event_id}
        attributes["highway.subtype"] = intake.subtype
        if intake.tenant_id is not None:
            attributes["highway.tenant_id"] = intake.tenant_id
        start_time = time.time_ns() - int((time.perf_counter() - began) * 1e9)
        with self._tracer.start_as_current_span(
            "route", attributes=attributes, start_time=start_time
        ) as span:
            intake.traceparent = self._traceparent()
            result = await submit(intake)
            span.set_attributes(
                {
                    "highway.started": result.started,
                    "highway.resumed": result.resumed,
                    "highway.duplicate": result.duplicate,
                }
            )
            return result

    @contextmanager
    def commit(self, batch: Sequence[Intake]) -> Iterator[None]:
        """A span for one transaction of the ingress writer. A batch holds many requests'
        events: the span is the child of the first traced one's route span and links to
        the others' (under light load a batch holds one event, whose trace shows it)."""
        from opentelemetry.trace import Link, get_current_span

        contexts = [
            self._w3c.extract({"traceparent": intake.traceparent})
            for intake in batch
            if intake.traceparent is not None
        ]
        links = [Link(get_current_span(context).get_span_context()) for context in contexts[1:]]
        with self._tracer.start_as_current_span(
            "commit",
            context=contexts[0] if contexts else None,
            links=links,
            attributes={"highway.events": len(batch)},
        ):
            yield

    async def engine_call(self, job: DispatchJob, call: Callable[[DispatchJob], Awaitable[T]]) -> T:
        """``call(job)`` in a client span continuing the trace the job's row kept; the
        span's ``traceparent`` is :data:`OUTGOING` meanwhile."""
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind

        parent: Context = (
            self._w3c.extract({"traceparent": job.traceparent}) if job.traceparent else Context()
        )
        attributes: dict[str, Any] = {
            "highway.dispatch_id": job.id,
            "highway.event_id": job.event_id,
            "highway.attempt": job.attempts,
        }
        for name in ("workflow_id", "execution_id", "tenant_id"):
            if (value := getattr(job, name)) is not None:
                attributes[f"highway.{name}"] = value
        with self._tracer.start_as_current_span(
            f"engine.{job.kind}", context=parent, kind=SpanKind.CLIENT, attributes=attributes
        ):
            token = OUTGOING.set(self._traceparent())
            try:
                return await call(job)
            finally:
                OUTGOING.reset(token)

    def _traceparent(self) -> str | None:
        """The current span's ``traceparent`` header."""
        carrier: dict[str, str] = {}
        self._w3c.inject(carrier)
        return carrier.get("traceparent")


def _answered(span: Span, status: int) -> None:
    from opentelemetry.trace import StatusCode

    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
