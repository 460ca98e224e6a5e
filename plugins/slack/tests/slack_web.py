"""A fake of Slack's Web API: a real Starlette app on loopback answering, in Slack's
documented format once it has checked the bot token, ``conversations.list`` (``{"ok": true,
"channels": [...], "response_metadata": {"next_cursor": …}}``, pages of ``limit``
channels), ``chat.postMessage`` (a JSON body; ``{"ok": true, "channel", "ts", "message"}``,
the blocks checked against Block Kit's limits) and ``chat.delete``; errors as ``{"ok":
false, "error": "invalid_auth"}``. Records every call, and the messages in the channels."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.testing import FakeOutage, ServerThread

MAX_LIMIT = 1000
"""Slack caps ``limit`` at 1000."""
TEAM = "T0FAKESLACK"
"""The workspace of the bot token."""
BOT_ID, BOT_USER = "B0FAKEBOT1", "U0FAKEBOT1"
_ids = itertools.count(1)
_ts = itertools.count(1)


@dataclass(frozen=True)
class ApiCall:
    """A request the fake answered: its method, query (or form), the token it carried,
    what was answered, and a JSON body it was sent."""

    params: dict[str, str]
    token: str | None
    status: int
    body: dict[str, Any]
    method: str = "conversations.list"
    sent: dict[str, Any] | None = None


@dataclass
class FakeSlackApi(FakeOutage):
    """A workspace whose bot token is ``token``, with ``channels`` (by name) and the
    ``messages`` the bot posted in them (by ``(channel, ts)``)."""

    token: str
    channels: dict[str, str] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    arrived: int = 0
    """Requests received, answered or not (a stalled one is counted)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/conversations.list", self._list, methods=["GET", "POST"]),
                Route("/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/chat.delete", self._delete, methods=["POST"]),
            ]
        )

    def create(self, name: str) -> str:
        """A new public channel ``name``; its id."""
        channel_id = f"C0{next(_ids):07d}"
        self.channels[name] = channel_id
        return channel_id

    @contextmanager
    def revoked(self) -> Iterator[None]:
        """The bot token is revoked inside the block: Slack answers ``invalid_auth``."""
        token, self.token = self.token, f"{self.token}-rotated"
        try:
            yield
        finally:
            self.token = token

    def since(self, count: int) -> list[ApiCall]:
        """The calls answered after the first ``count``."""
        with self._lock:
            return self.calls[count:]

    def posted(self, count: int = 0) -> list[ApiCall]:
        """The ``chat.postMessage`` calls answered after the first ``count`` calls."""
        return [c for c in self.since(count) if c.method == "chat.postMessage"]

    async def _list(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params |= {k: str(v) for k, v in (await request.form()).items()}
        return await self._answer(request, "conversations.list", params, None, self._page)

    async def _post_message(self, request: Request) -> Response:
        sent = await self._json(request)
        return await self._answer(request, "chat.postMessage", {}, sent, self._post)

    async def _delete(self, request: Request) -> Response:
        sent = await self._json(request)
        return await self._answer(request, "chat.delete", {}, sent, self._deleted)

    @staticmethod
    async def _json(request: Request) -> dict[str, Any] | None:
        """A JSON body, as Slack takes it (``application/json``); ``None`` otherwise."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return None
        try:
            sent = json.loads(await request.body())
        except ValueError:
            return None
        return sent if isinstance(sent, dict) else None

    async def _answer(
        self,
        request: Request,
        method: str,
        params: dict[str, str],
        sent: dict[str, Any] | None,
        answer: Any,
    ) -> Response:
        """Check the token (and an outage), then answer with ``answer(params or sent)``."""
        with self._lock:
            self.arrived += 1
        await self.held()
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
        elif method != "conversations.list" and sent is None:
            status, body = 200, {"ok": False, "error": "invalid_json"}
        else:
            with self._lock:
                status, body = 200, answer(params if sent is None else sent)
        with self._lock:
            self.calls.append(ApiCall(params, token or None, status, body, method, sent))
        return JSONResponse(body, status_code=status, headers=headers)

    def _post(self, sent: dict[str, Any]) -> dict[str, Any]:
        """``chat.postMessage``: the message stored in its channel, as Slack answers it."""
        channel = sent.get("channel")
        if channel not in self.channels.values():
            return {"ok": False, "error": "channel_not_found"}
        if not isinstance(sent.get("text"), str) or not isinstance(sent.get("blocks"), list):
            return {"ok": False, "error": "no_text"}
        if (invalid := _invalid_blocks(sent["blocks"])) is not None:
            return {"ok": False, "error": "invalid_blocks", "errors": [invalid]}
        ts = f"{int(time.time())}.{next(_ts):06d}"
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": sent["text"],
            "ts": ts,
            "username": "highway",
            "bot_id": BOT_ID,
            "user": BOT_USER,
            "team": TEAM,
            "blocks": sent["blocks"],
            **({"thread_ts": sent["thread_ts"]} if "thread_ts" in sent else {}),
        }
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _deleted(self, sent: dict[str, Any]) -> dict[str, Any]:
        """``chat.delete``: the bot's message goes."""
        key = (sent.get("channel"), sent.get("ts"))
        if self.messages.pop(key, None) is None:  # type: ignore[arg-type]
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

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


def _invalid_blocks(blocks: list[Any]) -> str | None:
    """What breaks Block Kit's limits (of the blocks a prompt uses), or ``None``."""
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in ("section", "actions"):
            return "a block must be a section or actions block"
        if block["type"] == "section" and len(block.get("text", {}).get("text", "")) > 3000:
            return "a section's text is at most 3000 characters"
        if block["type"] == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 25 or len(block.get("block_id", "")) > 255:
                return "an actions block has 1 to 25 elements, a block_id of 255 characters"
            for button in elements:
                if (
                    len(button.get("value", "")) > 2000
                    or not 1 <= len(button.get("text", {}).get("text", "")) <= 75
                    or len({e.get("action_id") for e in elements}) != len(elements)
                ):
                    return "a button's value (2000), text (75) or action_id (unique) is wrong"
    return None


@contextmanager
def serving_api(token: str) -> Iterator[tuple[FakeSlackApi, str]]:
    """The fake served on loopback, and its URL (``HIGHWAY_SLACK_API_URL``)."""
    api = FakeSlackApi(token)
    server = ServerThread(api.app()).start()
    try:
        yield api, server.url
    finally:
        server.stop()
