"""Helpers for testing the gateway and plugins against real parts.

Real uvicorn servers on loopback (the gateway, and :class:`FakeEngine`, an engine
speaking the engine protocol), throwaway PostgreSQL databases, and JSON that is hard to
deliver unchanged (:func:`awkward_json`). Plugin authors can use them too.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import httpx
import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.json_body import DEFAULT_MAX_DEPTH
from highway_triggers.core.plugins import load_plugins as load_plugins
from highway_triggers.core.secrets import SEALED as SEALED
from highway_triggers.settings import Settings as Settings

T = TypeVar("T")

POSTGRES_URL = os.environ.get(
    "HIGHWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
ADMIN_TOKEN = "test-admin-token"


@contextmanager
def captured_logs(settings: Settings) -> Iterator[io.StringIO]:
    """The gateway's logging as ``settings`` configure it (format, level, redaction, request
    and event ids), written to the buffer yielded; the loggers are put back afterwards."""
    from highway_triggers.logs import CONFIGURED_LOGGERS, configure_logging

    loggers = [logging.getLogger(name) for name in CONFIGURED_LOGGERS]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    buffer = io.StringIO()
    configure_logging(settings, buffer)
    try:
        yield buffer
    finally:
        for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``condition()`` until it is truthy; its value, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def awkward_json(depth: int = DEFAULT_MAX_DEPTH) -> dict[str, str]:
    """JSON objects the gateway takes that are hard to store and deliver unchanged, by name,
    as the text to send: escapes and raw UTF-8, astral characters, line separators, control
    characters, int64 and float extremes, ``-0.0``, key order, a ~100 KB string, large
    arrays, and nesting ``depth`` levels deep and one less (``depth``: what the route leaves
    the object of the body's limit, ``HIGHWAY_MAX_JSON_DEPTH``)."""
    return {
        "raw UTF-8": '{"café": "naïve ü 日本語", "ключ": "значение", "Ωμέγα": "ω"}',
        "escaped non-ASCII": '{"caf\\u00e9": "na\\u00efve \\u65e5\\u672c", "\\u00fc": 1}',
        "astral characters": (
            '{"emoji": "😀🎉👩\u200d👩\u200d👧", "escaped pair": "\\ud83d\\ude00", "𝒳": "𝒳"}'
        ),
        "line separators": (
            '{"raw": "a\u2028b\u2029c", "escaped": "a\\u2028b\\u2029c", "\u2028": 1}'
        ),
        "control characters": (
            '{"escaped": "\\u0001\\u001f\\t\\n\\r\\b\\f", "delete": "\x7f", "\\u0001": "key"}'
        ),
        "quotes and backslashes": (
            '{"q": "\\"quoted\\" \\\\ back\\\\slash \\/ slash", "no NUL": "\\\\u0000",'
            ' "\\"": "\\\\", "\\\\": "\\""}'
        ),
        "empty keys": '{"": "", " ": " ", "  ": {"": []}}',
        "integers": (
            '{"max": 9223372036854775807, "min": -9223372036854775808, "minus zero": -0, "zero": 0}'
        ),
        "floats": (
            '{"minus zero": -0.0, "tenth": 0.1, "big": 1e308, "largest": 1.7976931348623157e308,'
            ' "tiniest": 5e-324, "digits": 0.30000000000000004, "pi": 3.141592653589793,'
            ' "exponent": 1E+2, "1e16": 1e16, "one": 1.0, "negative": -2.5e-300,'
            ' "nines": 0.9999999999999999}'
        ),
        "key order": (
            '{"z": 1, "a": 2, "a long key first": 3, "m": 4, "aa": 5, "b": {"y": 1, "x": 2}}'
        ),
        "unicode keys": '{"ключ": 1, "🔑": 2, "é": 3, "e\u0301": 4, "日本": 5}',
        "types": (
            '{"t": true, "f": false, "n": null, "l": [1, 1.0, "1", true, null, {}, []], "o": {}}'
        ),
        "large arrays": json.dumps(
            {"ints": list(range(10_000)), "floats": [i / 7 for i in range(2_000)]}
        ),
        "a long string": json.dumps({"s": "0123456789abcdef" * 6_400 + "é😀"}, ensure_ascii=False),
        "nested to the limit": _nested(depth),
        "nested one less": _nested(depth - 1),
    }


def _nested(depth: int) -> str:
    """An object holding objects and arrays, ``depth`` levels in all."""
    text = '"bottom"'
    for level in range(depth - 1, 0, -1):
        text = f"[{text}, {level}]" if level % 2 else f'{{"level": {level}, "inner": {text}}}'
    return f'{{"deep": {text}}}'


def exact_json(value: Any) -> str:
    """``value`` as text that tells apart what ``==`` does not: key order, ``1`` from ``1.0``
    and ``true``, ``-0.0`` from ``0.0`` (a float's text gives it back bit for bit)."""
    return json.dumps(value)


class ServerThread:
    """A real uvicorn server for an ASGI app, on a loopback port, in a thread;
    ``options`` go to ``uvicorn.Config``."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
            **options,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        wait_until(lambda: self.server.started or not self._thread.is_alive(), timeout=30)
        if not self.server.started:
            raise RuntimeError(f"server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)


@dataclass
class EngineCall:
    method: str
    path: str
    idempotency_key: str | None
    authorization: str | None
    body: Any
    received_at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Every header of the request, by lower-case name."""


@dataclass(kw_only=True)
class FakeOutage:
    """What a fake SaaS API on loopback (a test's stand-in for GitHub's, Slack's …) does
    in an outage: answer every request ``fail_with`` inside :meth:`down`, hold every
    request inside :meth:`stalling`. Its handlers check ``fail_with`` and await
    :meth:`held`."""

    fail_with: int | None = None
    stalled: bool = False

    @contextmanager
    def down(self, status: int) -> Iterator[None]:
        """Every request answers ``status`` inside the block."""
        self.fail_with = status
        try:
            yield
        finally:
            self.fail_with = None

    @contextmanager
    def stalling(self) -> Iterator[None]:
        """Requests get no answer until the block ends."""
        self.stalled = True
        try:
            yield
        finally:
            self.stalled = False

    async def held(self) -> None:
        """Return once the API no longer stalls."""
        while self.stalled:
            await asyncio.sleep(0.05)


@dataclass
class FakeEngine:
    """A workflow engine on loopback speaking the engine protocol (start, resume, paused
    runs); records every request.

    ``fail_with`` makes every call answer that status (an engine that is down or
    broken); ``paused`` lists the runs the paused-runs query returns per workflow;
    ``delay`` makes every start and resume take that long (a slow engine).
    """

    calls: list[EngineCall] = field(default_factory=list)
    fail_with: int | None = None
    delay: float = 0.0
    paused: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _executions: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/workflows/{workflow_id}/execute", self._execute, methods=["POST"]),
                Route(
                    "/v2/workflows/{workflow_id}/executions", self._executions_of, methods=["GET"]
                ),
                Route("/v2/executions/{execution_id}/resume", self._resume, methods=["POST"]),
            ]
        )

    @contextmanager
    def down(self, status: int = 503) -> Iterator[None]:
        """Every call answers ``status`` inside the block (an outage); retries are due after."""
        self.fail_with = status
        try:
            yield
        finally:
            self.fail_with = None

    def starts(self, workflow_id: str | None = None) -> list[EngineCall]:
        """The start calls received (of ``workflow_id`` only, when given)."""
        if workflow_id is None:
            return [c for c in self.calls if c.path.endswith("/execute")]
        return [c for c in self.calls if c.path == f"/v2/workflows/{workflow_id}/execute"]

    def started(self, workflow_id: str, count: int = 1) -> list[EngineCall]:
        """The start calls of ``workflow_id``, once there are ``count`` of them (waits)."""

        def enough() -> list[EngineCall]:
            calls = self.starts(workflow_id)
            return calls if len(calls) >= count else []

        found: list[EngineCall] = wait_until(enough)
        return found

    def resumes(self) -> list[EngineCall]:
        return [c for c in self.calls if c.path.endswith("/resume")]

    def accepted(self, kind: str = "execute") -> dict[str, EngineCall]:
        """Calls the engine accepted, by idempotency key (what a real engine would run)."""
        with self._lock:
            return {
                c.idempotency_key: c
                for c in self.calls
                if c.path.endswith(kind) and c.idempotency_key in self._executions
            }

    async def _record(self, request: Request) -> EngineCall | Response:
        body = await request.json() if request.method == "POST" else None
        call = EngineCall(
            request.method,
            request.url.path,
            request.headers.get("idempotency-key"),
            request.headers.get("authorization"),
            body,
            headers=dict(request.headers),
        )
        with self._lock:
            self.calls.append(call)
        if self.fail_with is not None:
            return JSONResponse({"error": "unavailable"}, status_code=self.fail_with)
        return call

    async def _execute(self, request: Request) -> Response:
        call = await self._record(request)
        if isinstance(call, Response):
            return call
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            key = call.idempotency_key or uuid.uuid4().hex
            execution_id = self._executions.setdefault(key, f"exec-{uuid.uuid4().hex[:12]}")
        return JSONResponse({"execution_id": execution_id, "status": "running"})

    async def _resume(self, request: Request) -> Response:
        call = await self._record(request)
        if isinstance(call, Response):
            return call
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            self._executions.setdefault(
                call.idempotency_key or uuid.uuid4().hex, request.path_params["execution_id"]
            )
        call.answered_at = time.monotonic()
        return JSONResponse({"status": "resumed"})

    async def _executions_of(self, request: Request) -> Response:
        call = await self._record(request)
        if isinstance(call, Response):
            return call
        return JSONResponse({"workflows": self.paused.get(request.path_params["workflow_id"], [])})


@contextmanager
def running_engine(
    engine: FakeEngine | None = None, port: int | None = None
) -> Iterator[tuple[FakeEngine, str]]:
    engine = engine or FakeEngine()
    server = ServerThread(engine.app(), port).start()
    try:
        yield engine, server.url
    finally:
        server.stop()


class Carried(Protocol):
    """Something sent to the gateway for the engine, and the engine calls that carried it."""

    def calls(self, engine: FakeEngine) -> list[EngineCall]: ...


C = TypeVar("C", bound=Carried)


def sent_while_down(engine: FakeEngine, send: Callable[[], list[C]]) -> list[C]:
    """What ``send`` sent while ``engine`` was down, once each was attempted twice: the
    second attempt, and every later one, is a retry claimed from the stored dispatch row."""
    with engine.down():
        sent = send()
        wait_until(lambda: all(len(s.calls(engine)) >= 2 for s in sent), timeout=30)
    return sent


def wait_accepted(engine: FakeEngine, sent: Sequence[Carried]) -> None:
    """Wait until the engine accepted the last call that carried each of ``sent``."""

    def accepted() -> bool:
        taken = engine.accepted("execute") | engine.accepted("resume")
        return all((calls := s.calls(engine)) and calls[-1].idempotency_key in taken for s in sent)

    wait_until(accepted, timeout=30)


@contextmanager
def postgres_database(base_url: str = POSTGRES_URL) -> Iterator[str]:
    """A new empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg

    name = f"ht_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_available(base_url: str = POSTGRES_URL) -> bool:
    import psycopg

    try:
        psycopg.connect(base_url, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


def gateway_settings(database_url: str, tmp_path: Any, **overrides: Any) -> Settings:
    """Settings for a fast test gateway: short polls and backoffs, a known admin token."""
    values: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "secret_key": "test-secret-key",
        "secret_key_file": str(tmp_path / "secret-key"),
        "auto_migrate": True,
        "dispatch_poll_seconds": 0.05,
        "dispatch_backoff_base_seconds": 0.05,
        "dispatch_backoff_max_seconds": 0.5,
        "reconcile_interval_seconds": 0.2,
        "wait_timeout_poll_seconds": 0.1,
        # tests need no power-loss durability; FULL (the default) fsyncs every commit
        "sqlite_synchronous": "NORMAL",
        "task_backoff_initial_seconds": 0.05,
        "task_backoff_max_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(**values)


def gateway_env(database_url: str, tmp_path: Any, **settings: Any) -> dict[str, str]:
    """Environment for a ``serve`` process (:class:`GatewayProcess`): the database, a known
    admin token and secret key, warnings only; ``settings`` by name, e.g.
    ``engine_url="http://…"`` for ``HIGHWAY_ENGINE_URL``."""
    values: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "secret_key": "test-secret-key",
        "secret_key_file": str(tmp_path / "secret-key"),
        "log_level": "warning",
        **settings,
    }
    return {f"HIGHWAY_{name.upper()}": str(value) for name, value in values.items()}


@dataclass
class RunningGateway:
    """A gateway served by uvicorn in this process; ``gateway`` is its live object (the
    core's insides, for the core's own tests), ``context`` what its plugins see."""

    server: ServerThread
    app: Any
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def gateway(self) -> Any:
        return self.app.state.core

    @property
    def context(self) -> Any:
        return self.app.state.gateway

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the gateway's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.gateway.loop).result(timeout=30)

    def client(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        """An httpx client for this gateway (admin token by default), closed with it."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    @functools.cached_property
    def admin(self) -> httpx.Client:
        """One admin client, kept: making a client costs tens of milliseconds."""
        return self.client()

    def deploy(
        self, workflow_id: str, *triggers: dict[str, Any], expect: int = 200
    ) -> dict[str, Any]:
        """Deploy ``triggers`` (``{"type": …, "config": …}``) as ``workflow_id``'s; the
        answer's body, once its status is ``expect``."""
        answer = self.admin.post(
            f"/api/v1/deployment/workflows/{workflow_id}/deploy",
            json={"triggers": list(triggers)},
        )
        assert answer.status_code == expect, answer.text
        body: dict[str, Any] = answer.json()
        return body


@dataclass
class PluginHub:
    """A running gateway and the fake engine it delivers to: the base of a plugin's test
    hub, which adds the steps its tests repeat. A plugin that keeps its deliveries sets
    ``source`` (its trigger subtype, as the delivery log names it) and ``stored_path``
    (its stored-delivery route, with ``{}`` for the delivery id)."""

    gateway: RunningGateway
    engine: FakeEngine

    source: ClassVar[str] = ""
    stored_path: ClassVar[str] = ""
    settle_seconds: ClassVar[float] = 0.3
    """How long :meth:`started` waits after the starts it expects (one too many shows)."""

    @property
    def admin(self) -> httpx.Client:
        return self.gateway.admin

    @functools.cached_property
    def sender(self) -> httpx.Client:
        """One client without credentials, as a sender's (making a client costs tens of
        milliseconds)."""
        return self.gateway.client(None)

    def deploy_trigger(
        self,
        trigger_type: str,
        config: dict[str, Any],
        workflow_id: str | None = None,
        expect: int = 200,
    ) -> str:
        """Deploy one ``trigger_type`` trigger; its workflow id (a new one unless given)."""
        workflow_id = workflow_id or f"{trigger_type.lower()}-wf-{uuid.uuid4().hex[:12]}"
        self.gateway.deploy(workflow_id, {"type": trigger_type, "config": config}, expect=expect)
        return workflow_id

    def starts(self, workflow_id: str, count: int = 1) -> list[EngineCall]:
        """The engine's start calls for ``workflow_id``, once there are ``count`` of them."""
        return self.engine.started(workflow_id, count)

    def started(self, workflow_id: str, count: int = 1) -> list[str]:
        """The delivery ids ``workflow_id`` was started with, once ``count`` starts arrived
        and :attr:`settle_seconds` later (a start too many shows by then)."""
        self.starts(workflow_id, count)
        time.sleep(self.settle_seconds)
        return [call.body["trigger_data"]["delivery_id"] for call in self.starts(workflow_id)]

    def stored(self, delivery_id: str) -> httpx.Response:
        """The plugin's stored delivery ``delivery_id`` (its admin route)."""
        return self.admin.get(self.stored_path.format(delivery_id))

    def logged(self, delivery_id: str, count: int = 1) -> list[dict[str, Any]]:
        """The delivery log's rows of one delivery of :attr:`source`, newest first, once
        there are ``count`` (refusals arrive with the next commit)."""

        def found() -> list[dict[str, Any]]:
            answer = self.admin.get("/api/v1/deliveries", params={"source": self.source})
            rows = [r for r in answer.json()["deliveries"] if r["delivery_id"] == delivery_id]
            return rows if len(rows) >= count else []

        rows: list[dict[str, Any]] = wait_until(found)
        return rows

    def refused(self, answer: httpx.Response, status: int, code: str, delivery_id: str) -> None:
        """``answer`` refuses the delivery (``status``, ``code``); nothing of it is stored,
        and the delivery log has it ``refused`` with the code in its reason."""
        error_body(answer, status, code)
        assert self.stored(delivery_id).status_code == 404
        (row,) = self.logged(delivery_id)
        assert (row["source"], row["outcome"], row["started"]) == (self.source, "refused", 0), row
        assert row["reason"].startswith(f"{code}: "), row


def error_body(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body of ``answer``, once it is ``status`` with ``code``."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["status"], body["code"]) == ("error", code), body
    return body


def validation_errors(answer: httpx.Response) -> dict[str, str]:
    """A 422's ``errors``: each field and its message."""
    body = error_body(answer, 422, "VALIDATION_ERROR")
    return {error["field"]: error["message"] for error in body["errors"]}


def dispatch_row(client: httpx.Client, dispatch_id: str) -> dict[str, Any]:
    """The dispatch ``dispatch_id`` as ``GET /api/v1/dispatches`` lists it (an admin client)."""
    rows = client.get("/api/v1/dispatches", params={"limit": 1000}).json()["dispatches"]
    (row,) = [r for r in rows if r["dispatch_id"] == dispatch_id]
    return dict(row)


def settled_dispatch(client: httpx.Client, dispatch_id: str, timeout: float = 30) -> dict[str, Any]:
    """The dispatch once it is ``delivered`` or ``dead`` (see :func:`dispatch_row`)."""

    def done() -> dict[str, Any] | None:
        row = dispatch_row(client, dispatch_id)
        return row if row["status"] in ("delivered", "dead") else None

    return dict(wait_until(done, timeout=timeout, interval=0.05))


def create_tenant(gateway: RunningGateway, tenant_id: str, **limits: Any) -> str:
    """Create the tenant (``POST /api/v1/tenants``, with ``limits``); its JWT secret."""
    created = gateway.client().post("/api/v1/tenants", json={"tenant_id": tenant_id, **limits})
    assert created.status_code == 201, created.text
    secret: str = created.json()["jwt_secret"]
    return secret


def tenant_jwt(secret: str, tenant_id: str, ttl: int = 600) -> str:
    """A tenant JWT signed with ``secret``, valid for ``ttl`` seconds (past, if negative)."""
    claims = {"tenant_id": tenant_id, "exp": int(time.time()) + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def tenant_token(gateway: RunningGateway, tenant_id: str, **limits: Any) -> str:
    """Create the tenant; a JWT signed with its secret."""
    return tenant_jwt(create_tenant(gateway, tenant_id, **limits), tenant_id)


def wait_for_wait(client: httpx.Client, tenant_id: str, run_id: str, timeout: float = 30) -> None:
    """Until the run ``run_id`` has registered a wait (``GET /api/v1/waits``)."""

    def waiting() -> bool:
        waits = client.get("/api/v1/waits", params={"tenant_id": tenant_id}).json()["waits"]
        return any(w["workflow_run_id"] == run_id for w in waits)

    wait_until(waiting, timeout=timeout, interval=0.05)


def register_wait(
    client: httpx.Client, correlation_key: str, run_id: str, *, tenant_id: str, event_name: str
) -> str:
    """Register ``run_id`` as waiting on ``correlation_key`` (``POST /api/v1/waits``, an
    admin client), as an engine does; the wait's id."""
    body = {
        "tenant_id": tenant_id,
        "workflow_run_id": run_id,
        "event_name": event_name,
        "correlation_key": correlation_key,
    }
    answer = client.post("/api/v1/waits", json=body)
    assert answer.status_code == 201, answer.text
    wait_id: str = answer.json()["wait_id"]
    return wait_id


def resumed_once(
    engine: FakeEngine, client: httpx.Client, run_id: str, wait_id: str, settle: float = 0.3
) -> dict[str, Any]:
    """The resume data of ``run_id``'s one resume, for ``wait_id``, once it came and
    ``settle`` seconds later (a second resume shows by then); the wait is consumed."""

    def calls() -> list[EngineCall]:
        return [c for c in engine.resumes() if c.path == f"/v2/executions/{run_id}/resume"]

    wait_until(calls)
    time.sleep(settle)
    (call,) = calls()
    assert call.body["interaction_id"] == wait_id
    assert client.get(f"/api/v1/waits/{wait_id}").json()["status"] == "consumed"
    data: dict[str, Any] = call.body["resume_data"]
    return data


def metric(client: httpx.Client, sample: str, **labels: str) -> float:
    """A sample of the gateway's ``/metrics`` through ``client`` (an admin client), by its
    name and exact labels; 0 before it is first counted."""
    from prometheus_client.parser import text_string_to_metric_families

    families = text_string_to_metric_families(client.get("/metrics").text)
    return sum(
        found.value
        for family in families
        for found in family.samples
        if found.name == sample and found.labels == labels
    )


def new_gateway(settings: Settings) -> Any:
    """A gateway that is not started yet (for ``running_gateway(gateway=…)``), so a test may
    set up its plugins' state first (``new_gateway(s).context``)."""
    from highway_triggers.gateway import Gateway

    return Gateway(settings)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block (a plugin's ``HIGHWAY_<PLUGIN>_*``
    settings for a gateway made inside it), what was there before restored after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def running_gateway(
    settings: Settings | None = None, *, gateway: Any = None
) -> Iterator[RunningGateway]:
    """Serve a gateway made from ``settings``, or the given (not yet started) ``gateway``."""
    from highway_triggers.app import create_app
    from highway_triggers.serving import server_options

    app = create_app(settings, gateway)
    server = ServerThread(app, **server_options(app.state.core.settings))
    running = RunningGateway(server.start(), app)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        running.server.stop()


class GatewayProcess:
    """``highway-triggers serve`` in its own process (for kill -9 and several replicas), in
    the directory ``cwd`` (default: this process's); ``command`` runs ``highway-triggers``
    (default: this interpreter's, e.g. another environment's script instead)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Any,
        port: int | None = None,
        cwd: Any = None,
        command: Sequence[str] = (sys.executable, "-m", "highway_triggers.cli"),
    ) -> None:
        self.log_path = log_path
        self.cwd = cwd
        self.command = list(command)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "HIGHWAY_PORT": str(self.port),
            "HIGHWAY_HOST": "127.0.0.1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> GatewayProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "serve"],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=log,
            )

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                with open(self.log_path) as log:
                    raise RuntimeError(f"gateway exited: {log.read()[-2000:]}")
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=timeout, interval=0.1)
        return self

    @functools.cached_property
    def admin(self) -> httpx.Client:
        """An admin client of this gateway, closed by :meth:`stop`."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if "admin" in self.__dict__:
            self.admin.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_replicas(
    database_url: str, tmp_path: Any, count: int = 2, env: Mapping[str, str] | None = None
) -> Iterator[tuple[list[GatewayProcess], FakeEngine]]:
    """``count`` gateway processes on one database (PostgreSQL: replicas), delivering to one
    :class:`FakeEngine` over HTTP, and the engine; stopped on exit. The first migrates the
    database, the others start after it, together. Engine calls time out after 1 s and a
    dispatch lease lasts 2 s, so that a replica killed mid-delivery hands its rows over
    soon. ``env``: more variables for every process (a plugin's settings); logs go to
    ``tmp_path/a.log``, ``b.log`` …"""
    with running_engine() as (engine, engine_url):
        common = gateway_env(
            database_url,
            tmp_path,
            engine="http",
            engine_url=engine_url,
            engine_timeout_seconds=1,
            dispatch_lease_seconds=2,
        ) | dict(env or {})
        processes = [
            GatewayProcess(
                {**common, "HIGHWAY_AUTO_MIGRATE": "true" if n == 0 else "false"},
                os.path.join(tmp_path, f"{chr(ord('a') + n)}.log"),
            )
            for n in range(count)
        ]
        try:
            processes[0].start()
            with ThreadPoolExecutor(max(count - 1, 1)) as pool:
                list(pool.map(GatewayProcess.start, processes[1:]))
            yield processes, engine
        finally:
            for process in processes:
                process.stop()


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``highway-triggers ARGS`` in this process (click's ``CliRunner``: no interpreter to
    start), as a finished process: exit code, stdout and stderr (with the traceback of an
    exception the command let through). With ``env``, the call sees exactly that
    environment's ``HIGHWAY_*`` variables, and its other variables too; ``cwd`` is its
    working directory."""
    from click.testing import CliRunner

    from highway_triggers.cli import main

    changes: dict[str, str | None] = {}
    if env is not None:
        changes = {name: None for name in os.environ if name.startswith("HIGHWAY_")}
        changes.update(env)
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(main, list(args), env=changes, prog_name="highway-triggers")
    finally:
        os.chdir(here)
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exc_info[1], SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(
        ["highway-triggers", *args], result.exit_code, result.stdout, stderr
    )
