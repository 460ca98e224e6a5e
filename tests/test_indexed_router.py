"""The gateway's router answers every request as Starlette's own router does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Message

from highway_triggers.core.routing import IndexedRouter


def endpoint(name: str) -> Any:
    async def answer(request: Request) -> Response:
        return PlainTextResponse(f"{name} {dict(request.path_params)}")

    return answer


ROUTES: list[BaseRoute] = [
    Route("/items/{item}", endpoint("item"), methods=["DELETE"]),
    Route("/items/{item}", endpoint("param"), methods=["GET"]),
    Route("/items/new", endpoint("new-get"), methods=["GET"]),
    Route("/items/new", endpoint("new-post"), methods=["POST"]),
    Route("/health", endpoint("health"), methods=["GET"]),
]


def call(router: Router, method: str, path: str, root_path: str = "") -> tuple[int, str, str]:
    """Status, body and Allow header of one request to ``router``."""
    scope = {
        "type": "http", "method": method, "path": root_path + path, "root_path": root_path,
        "headers": [], "query_string": b"", "scheme": "http", "server": ("test", 80),
        "http_version": "1.1",
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(router(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    allow = dict(start["headers"]).get(b"allow", b"").decode()
    return start["status"], body.decode(), allow


@pytest.mark.parametrize(
    ("method", "path", "root_path"),
    [
        ("GET", "/items/new", ""),  # an earlier route with a parameter takes the fixed path
        ("POST", "/items/new", ""),  # the fixed route of that method
        ("DELETE", "/items/new", ""),
        ("PUT", "/items/new", ""),  # 405
        ("GET", "/items/7", ""),
        ("GET", "/health", ""),
        ("POST", "/health", ""),
        ("GET", "/health/", ""),  # redirected
        ("GET", "/nowhere", ""),
        ("GET", "/health", "/behind-proxy"),
        ("POST", "/items/new", "/behind-proxy"),
    ],
)
def test_answers_as_starlettes_router(method: str, path: str, root_path: str) -> None:
    expected = call(Router(ROUTES), method, path, root_path)
    assert call(IndexedRouter(ROUTES), method, path, root_path) == expected


def test_the_first_route_that_matches_fully_wins() -> None:
    router = IndexedRouter(ROUTES)
    assert call(router, "GET", "/items/new") == (200, "param {'item': 'new'}", "")
    assert call(router, "POST", "/items/new") == (200, "new-post {}", "")
    assert call(router, "PUT", "/items/new")[0] == 405
