"""How the gateway is served: uvicorn, with an HTTP protocol that bounds slow and
oversized request heads.

uvicorn's httptools protocol has no limit on the size of a request's header block, and
no timeout for it: its keep-alive timeout runs only between requests, from the end of a
response, so a connection that never sends a whole request line and headers, or sends
them a byte at a time, stays open for good (h11 bounds the size only, with
``h11_max_incomplete_event_size``). :class:`GuardedHttpToolsProtocol` adds both, and a
last bound on a body still arriving after its answer. Every server of the gateway runs
with :func:`server_options` (``highway-triggers serve``, ``testing.running_gateway``).
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from highway_triggers.core.errors import HTTPError
from highway_triggers.settings import Settings

LINGER_SECONDS = 2.0
"""How long a refused connection still reads (and drops) what the client sends, so that
closing with unread data does not reset the connection before it read the answer."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one connection may take: the bytes and seconds of each request's head, and
    the seconds of its body."""

    max_header_bytes: int
    max_header_count: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            settings.max_header_bytes,
            settings.max_header_count,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
        )


def server_options(settings: Settings) -> dict[str, Any]:
    """Options for ``uvicorn.run``/``uvicorn.Config``: the guarded protocol with the limits
    of ``settings`` (a partial, so that it pickles for ``--workers``)."""
    return {
        "http": functools.partial(GuardedHttpToolsProtocol, limits=ConnectionLimits.of(settings))
    }


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with limits on each request's head.

    - The request line and headers must arrive within ``header_timeout`` of the
      connection opening or of the first byte of the request (a keep-alive connection
      between requests has uvicorn's ``timeout_keep_alive``): else 408
      ``REQUEST_TIMEOUT`` and the connection closes (silently if nothing came).
    - More than ``max_header_bytes`` of a head, or more than ``max_header_count``
      headers: 431 ``HEADERS_TOO_LARGE`` and the connection closes, before more is
      buffered.
    - A body not in whole ``body_timeout`` after its head: a route still waiting for it
      is told the client left, the answer is 408 ``REQUEST_TIMEOUT`` and the connection
      closes; once the request was answered, the connection just closes.

    The checks ride on the protocol's callbacks and a deadline per connection (checked a
    few times a second by one timer per server, see :class:`_Deadlines`; a timeout holds
    within that interval) instead of an ASGI middleware wrapping every request. They hold
    only where the gateway serves itself: an app run under another server (``uvicorn
    --factory highway_triggers.app:app_from_environment``, gunicorn) keeps the body-size
    limit but not these.
    - What the parser refuses is answered 400 ``MALFORMED_REQUEST`` with the JSON error
      body.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._in_head = True
        self._head_bytes = 0
        self._refused = False
        self._deadline: float | None = None
        """When ``_on_deadline`` runs (the loop's clock); ``None``: nothing is due."""
        self._on_deadline: Callable[[], None] = _nothing
        self._deadlines = _deadlines_of(server_state, limits)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadlines.add(self)
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._deadlines.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            limits = self.limits
            self._refuse(headers_too_large(limits.max_header_bytes, limits.max_header_count))

    def send_400_response(self, msg: str) -> None:
        """What the parser refused (a control character in a header, a bad request line):
        the JSON error body instead of uvicorn's text."""
        self._refuse(HTTPError(400, "MALFORMED_REQUEST", "the request is not valid HTTP/1.1"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        if self._deadline is None:  # a request after the first: its head has the same bound
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        limits = self.limits
        # the bytes read so far bound the head's size: count it exactly only past the limit
        if len(self.headers) > limits.max_header_count or (
            self._head_bytes > limits.max_header_bytes
            and _head_size(self.url, self.headers) > limits.max_header_bytes
        ):
            self._refuse(headers_too_large(limits.max_header_bytes, limits.max_header_count))
            return
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # a request (not an upgrade to a WebSocket)
            self._arm(self.limits.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._in_head, self._head_bytes = True, 0

    # ---------------------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._deadline = self.loop.time() + seconds
        self._on_deadline = callback

    def _disarm(self) -> None:
        self._deadline = None

    def check_deadline(self, now: float) -> None:
        """Run what is due at ``now`` (called by the connections' :class:`_Deadlines`)."""
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._on_deadline()

    def _answering(self) -> bool:
        """Whether a response is under way on this connection (nothing may be written)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        if self.transport.is_closing():
            return
        if self._answering():  # a pipelined head waits behind a response: look again later
            self._arm(self.limits.header_timeout, self._head_timed_out)
        elif self._head_bytes == 0:
            self.transport.close()
        else:
            self._refuse(request_timeout("request line and headers", self.limits.header_timeout))

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if self.transport.is_closing():
            return
        if cycle is not None and cycle.more_body and not cycle.response_started:
            # the route waits for a body that does not come: it hears that the client left
            # (its answer is dropped), and the client gets the 408
            cycle.disconnected = True
            cycle.message_event.set()
            self._answer(request_timeout("body", self.limits.body_timeout))
        elif self._answering():  # answering while the body still arrives: look again later
            self._arm(self.limits.body_timeout, self._body_timed_out)
        else:
            self.transport.close()

    def _refuse(self, error: HTTPError) -> None:
        """Answer ``error`` (its JSON body) and close after :data:`LINGER_SECONDS`,
        or only close while another response is under way."""
        if self._refused or self.transport.is_closing():
            return
        self._disarm()
        if self._answering():
            self.transport.close()
            return
        self._answer(error)

    def _answer(self, error: HTTPError) -> None:
        """Write ``error`` as the connection's last response; close after the linger."""
        self._refused = True
        self.transport.write(_raw_response(error, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_SECONDS, self.transport.close)


class _Deadlines:
    """The deadlines of one server's connections, checked by one timer every ``interval``
    while connections are open: a timer per deadline (armed and cancelled twice per
    request) cost about 10 µs of CPU per request; a deadline is two attribute stores. A
    limit holds within ``interval`` of its time."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._protocols: set[GuardedHttpToolsProtocol] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, protocol: GuardedHttpToolsProtocol) -> None:
        self._protocols.add(protocol)
        if self._timer is None:
            self._timer = protocol.loop.call_later(self._interval, self._check, protocol.loop)

    def discard(self, protocol: GuardedHttpToolsProtocol) -> None:
        self._protocols.discard(protocol)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for protocol in list(self._protocols):
            protocol.check_deadline(now)
        self._timer = (
            loop.call_later(self._interval, self._check, loop) if self._protocols else None
        )


_DEADLINES: weakref.WeakKeyDictionary[ServerState, _Deadlines] = weakref.WeakKeyDictionary()


def _deadlines_of(server_state: ServerState, limits: ConnectionLimits) -> _Deadlines:
    """The deadlines of the server of ``server_state`` (one per server)."""
    deadlines = _DEADLINES.get(server_state)
    if deadlines is None:
        shortest = min(limits.header_timeout, limits.body_timeout, LINGER_SECONDS)
        interval = min(max(shortest / 4, 0.05), 0.5)
        deadlines = _DEADLINES[server_state] = _Deadlines(interval)
    return deadlines


def _nothing() -> None:
    """No deadline's action."""


def headers_too_large(max_bytes: int, max_count: int) -> HTTPError:
    return HTTPError(
        431,
        "HEADERS_TOO_LARGE",
        f"the request line and headers exceed {max_bytes} bytes or {max_count} headers",
    )


def request_timeout(what: str, seconds: float) -> HTTPError:
    """408 for a request whose ``what`` did not arrive within ``seconds``."""
    return HTTPError(408, "REQUEST_TIMEOUT", f"the {what} did not arrive within {seconds:g} s")


def _head_size(target: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """A head's target and headers as sent (``": "`` and CRLF around each header)."""
    return len(target) + sum(len(name) + len(value) + 4 for name, value in headers)


def _raw_response(error: HTTPError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    phrase = http.HTTPStatus(error.status).phrase
    lines = [f"HTTP/1.1 {error.status} {phrase}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
