"""A fake of Slack's Web API for channel names: a real Starlette app on loopback answering
``conversations.list`` in Slack's documented format (``{"ok": true, "channels": [...],
"response_metadata": {"next_cursor": …}}``, pages of ``limit`` channels, errors as
``{"ok": false, "error": "invalid_auth"}``) once it has checked the bot token. Records every
call."""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.testing import ServerThread

MAX_LIMIT = 1000
"""Slack caps ``limit`` at 1000."""
_ids = itertools.count(1)


@dataclass(frozen=True)
class ApiCall:
    """A request the fake answered: its query, the token it carried, what was answered."""

    params: dict[str, str]
    token: str | None
    status: int
    body: dict[str, Any]


@dataclass
class FakeSlackApi:
    """A workspace whose bot token is ``token``, with ``channels`` (by name)."""

    token: str
    channels: dict[str, str] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    fail_with: int | None = None
    stalled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        route = Route("/conversations.list", self._list, methods=["GET", "POST"])
        return Starlette(routes=[route])

    def create(self, name: str) -> str:
        """A new public channel ``name``; its id."""
        channel_id = f"C0{next(_ids):07d}"
        self.channels[name] = channel_id
        return channel_id

    @contextmanager
    def down(self, status: int) -> Iterator[None]:
        """Every request answers ``status`` inside the block (Slack having an outage; 429:
        rate limited, with ``Retry-After``)."""
        self.fail_with = status
        try:
            yield
        finally:
            self.fail_with = None

    @contextmanager
    def revoked(self) -> Iterator[None]:
        """The bot token is revoked inside the block: Slack answers ``invalid_auth``."""
        token, self.token = self.token, f"{self.token}-rotated"
        try:
            yield
        finally:
            self.token = token

    @contextmanager
    def stalling(self) -> Iterator[None]:
        """Requests get no answer until the block ends."""
        self.stalled = True
        try:
            yield
        finally:
            self.stalled = False

    def since(self, count: int) -> list[ApiCall]:
        """The calls answered after the first ``count``."""
        with self._lock:
            return self.calls[count:]

    async def _list(self, request: Request) -> Response:
        while self.stalled:
            await asyncio.sleep(0.05)
        params = dict(request.query_params)
        if request.method == "POST":
            params |= {k: str(v) for k, v in (await request.form()).items()}
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        headers: dict[str, str] = {}
        if self.fail_with is not None:
            status, body = self.fail_with, {"ok": False, "error": "fatal_error"}
            if status == 429:
                body, headers = {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}
        elif scheme.lower() != "bearer" or not token:
            status, body = 200, {"ok": False, "error": "not_authed"}
        elif token != self.token:
            status, body = 200, {"ok": False, "error": "invalid_auth"}
        else:
            status, body = 200, self._page(params)
        with self._lock:
            self.calls.append(ApiCall(params, token or None, status, body))
        return JSONResponse(body, status_code=status, headers=headers)

    def _page(self, params: dict[str, str]) -> dict[str, Any]:
        """One page of channels, sorted by id, from the channel the cursor names (Slack's
        cursors read ``team:C…`` in base64)."""
        limit = min(int(params.get("limit", "100")), MAX_LIMIT)
        listed = sorted(self.channels.items(), key=lambda item: item[1])
        ids = [channel_id for _, channel_id in listed]
        cursor = params.get("cursor")
        if cursor:
            named = base64.b64decode(cursor).decode().removeprefix("team:")
            if named not in ids:
                return {"ok": False, "error": "invalid_cursor"}
            offset = ids.index(named)
        else:
            offset = 0
        page, rest = listed[offset : offset + limit], ids[offset + limit :]
        following = base64.b64encode(f"team:{rest[0]}".encode()).decode() if rest else ""
        return {
            "ok": True,
            "channels": [self._channel(name, channel_id) for name, channel_id in page],
            "response_metadata": {"next_cursor": following},
        }

    @staticmethod
    def _channel(name: str, channel_id: str) -> dict[str, Any]:
        """A conversation object as ``conversations.list`` lists a public channel."""
        return {
            "id": channel_id,
            "name": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": False,
            "created": 1449252889,
            "is_archived": False,
            "is_general": name == "general",
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_member": True,
            "creator": "U012A3CDE",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": f"The #{name} channel", "creator": "", "last_set": 0},
            "previous_names": [],
            "num_members": 4,
        }


@contextmanager
def serving_api(token: str) -> Iterator[tuple[FakeSlackApi, str]]:
    """The fake served on loopback, and its URL (``HIGHWAY_SLACK_API_URL``)."""
    api = FakeSlackApi(token)
    server = ServerThread(api.app()).start()
    try:
        yield api, server.url
    finally:
        server.stop()
