"""ASGI limits on what a request may cost before a route runs: the size of its header
block (431) and the time its body may take to arrive (408).

The server's protocol (``highway_triggers.serving``) bounds what uvicorn buffers before
the app sees a request; these checks are exact and answer with the contract's body.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import error_response

HEADER_OVERHEAD = 4
"""Bytes of ``": "`` and CRLF around each header, counted as the client sent them."""


def headers_too_large(max_bytes: int, max_count: int) -> HTTPError:
    return HTTPError(
        431,
        "HEADERS_TOO_LARGE",
        f"the request line and headers exceed {max_bytes} bytes or {max_count} headers",
    )


def request_timeout(what: str, seconds: float) -> HTTPError:
    """408 for a request whose ``what`` did not arrive within ``seconds``; the connection
    closes, so that nothing the client still sends is taken for a next request."""
    return HTTPError(
        408,
        "REQUEST_TIMEOUT",
        f"the {what} did not arrive within {seconds:g} s",
        headers={"Connection": "close"},
    )


def header_block_size(scope: Scope) -> int:
    """The size of a request's target and headers as sent (the method and version aside)."""
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return target + sum(len(n) + len(v) + HEADER_OVERHEAD for n, v in scope["headers"])


class HeaderLimit:
    """Answer 431 ``HEADERS_TOO_LARGE`` when a request's target and headers exceed
    ``max_bytes``, or it has more than ``max_count`` headers."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_count: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            len(scope["headers"]) > self.max_count or header_block_size(scope) > self.max_bytes
        ):
            response = error_response(headers_too_large(self.max_bytes, self.max_count))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyDeadline:
    """Answer 408 ``REQUEST_TIMEOUT`` (and close the connection) when a route waits for a
    body that has not arrived whole ``seconds`` after the request reached the app: a
    client that sends less than its ``Content-Length``, or trickles it, holds nothing
    longer. Once the body is in, later ``receive`` calls (waiting for a disconnect) are
    not bounded."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False

        async def bounded() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise request_timeout("body", self.seconds) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, bounded, send)
