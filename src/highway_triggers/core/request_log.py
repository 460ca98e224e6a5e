"""The request log: an id for every request, its access line, and its ``ingress`` span.

- ``X-Request-ID``: taken from the request when sane (1 to 128 visible ASCII characters
  that do not look like a secret), else made; echoed on every answer, errors included,
  and named by every log line written while the request is served.
- The access line: one INFO record of ``highway_triggers.access`` per request, written
  when the app is done with it: method, path, status, duration, client. The path is the
  raw one without its query string (where signed links and tokens travel); the token of
  ``/api/v1/hooks/{token}`` is hidden. Status 0: no answer was sent.
- With tracing on, the request is served inside an ``ingress`` span.

A pure ASGI middleware wrapping the whole app (``GatewayApp``), the handler of
unexpected errors included, so that it sees their 500 too.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from highway_triggers.core.correlation import EVENT_ID, REQUEST_ID
from highway_triggers.core.ipfilter import Networks, client_address
from highway_triggers.core.tracing import Tracing
from highway_triggers.logs import ACCESS_FORMAT, ACCESS_LOGGER, redact

access = logging.getLogger(ACCESS_LOGGER)

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[!-~]{1,128}").fullmatch
SECRET_PATHS = ("/api/v1/hooks/",)
"""Paths whose last part is a credential: it is hidden in the access line and spans."""
_ids = itertools.count(1)
_ID_PREFIX = secrets.token_hex(6)


def new_request_id() -> str:
    """A request id unique to this process and, with its random prefix, across them."""
    return f"{_ID_PREFIX}-{next(_ids):x}"


def sane_request_id(value: bytes) -> str | None:
    """``value`` as a request id, or ``None`` when it is not one to repeat in logs and
    headers: empty, longer than 128, not visible ASCII, or looking like a secret."""
    if _SANE_REQUEST_ID(value) is None:
        return None
    text = value.decode("ascii")
    return text if redact(text) == text else None


def loggable_path(scope: Scope) -> str:
    """The request's path as sent (percent-escapes kept, so no line break gets through),
    without its query string, credentials in the path hidden."""
    raw: bytes | None = scope.get("raw_path")
    path = scope["path"] if raw is None else raw.partition(b"?")[0].decode("ascii", "replace")
    for prefix in SECRET_PATHS:
        if path.startswith(prefix):
            return prefix + "[REDACTED]"
    return path


class RequestLog:
    """Request ids, the access log (``access_log``) and ``ingress`` spans, around ``app``.
    ``trusted``: the proxies whose ``X-Forwarded-For`` names the client."""

    def __init__(
        self, app: ASGIApp, *, access_log: bool, tracing: Tracing, trusted: Networks
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.tracing = tracing
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = forwarded = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                incoming = value
            elif name == b"x-forwarded-for":
                forwarded = value
        request_id = (incoming is not None and sane_request_id(incoming)) or new_request_id()
        echoed = (REQUEST_ID_HEADER, request_id.encode())
        status = 0

        async def respond(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        request_token = REQUEST_ID.set(request_id)
        event_token = EVENT_ID.set(None)  # the router names the request's event
        began = perf_counter()
        try:
            if self.tracing.enabled:
                with self.tracing.ingress(scope, loggable_path(scope), request_id) as answered:
                    try:
                        await self.app(scope, receive, respond)
                    finally:
                        answered(status)
            else:
                await self.app(scope, receive, respond)
        finally:
            if self.access_log and access.isEnabledFor(logging.INFO):
                duration = round((perf_counter() - began) * 1000, 3)
                client = self._client(scope, forwarded)
                access.info(
                    ACCESS_FORMAT, scope["method"], loggable_path(scope), status, duration, client
                )
            EVENT_ID.reset(event_token)
            REQUEST_ID.reset(request_token)

    def _client(self, scope: Scope, forwarded: bytes | None) -> str:
        """The client's address: the peer's, or behind a trusted proxy its client's."""
        peer = scope["client"][0] if scope.get("client") else None
        if forwarded is not None and self.trusted:
            address = client_address(peer, forwarded.decode("latin-1"), self.trusted)
            return "-" if address is None else str(address)
        return peer or "-"
