"""A fake of Google's Calendar API v3 and OAuth token endpoint: a real Starlette app on
loopback speaking their documented JSON. ``POST /token`` grants access tokens for known
refresh tokens (``invalid_grant`` once revoked) or service-account JWTs (RS256, verified
with the account's public key); ``GET /calendars/{id}/events`` lists with ``syncToken``,
``pageToken``, ``showDeleted`` and ``timeMin`` (by end time; ``400`` beside a sync token) and
answers ``410`` for an expired sync token;
``POST /calendars/{id}/events/watch`` opens a channel and ``POST /channels/stop`` closes one.
An access token past its ``expires_in`` is refused (401)."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.testing import FakeOutage, ServerThread

_ids = itertools.count(1)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant(value: str | dict[str, str]) -> datetime:
    """An RFC 3339 time, or an event's ``start``/``end`` (``dateTime``, or an all-day
    ``date`` taken at midnight UTC)."""
    if isinstance(value, dict):
        value = value.get("dateTime") or value["date"] + "T00:00:00Z"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def error(status: int, message: str, reason: str) -> JSONResponse:
    body = {"error": {"code": status, "message": message, "errors": [
        {"domain": "global", "reason": reason, "message": message}
    ]}}  # fmt: skip
    return JSONResponse(body, status_code=status)


@dataclass
class FakeCalendarApi(FakeOutage):
    """Calendars by id, each a list of event versions in the order they were written."""

    expires_in: int = 3600
    page_size: int | None = None
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token → client_id
    service_accounts: dict[str, Any] = field(default_factory=dict)  # email → public key
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    sequence: dict[tuple[str, str], int] = field(default_factory=dict)
    counter: int = 0
    token_floor: dict[str, int] = field(default_factory=dict)  # older sync tokens: 410
    access: dict[str, tuple[float, str]] = field(default_factory=dict)  # token → expiry, who
    token_grants: list[str] = field(default_factory=list)
    refused_tokens: int = 0
    lists: list[dict[str, str]] = field(default_factory=list)
    """Each authorized ``events.list`` call: its ``calendar``, its access token (``bearer``: one
    per poller, which tells pollers apart) and its query."""
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/calendars/{calendar}/events", self._list, methods=["GET"]),
                Route("/calendars/{calendar}/events/watch", self._watch, methods=["POST"]),
                Route("/channels/stop", self._stop, methods=["POST"]),
            ]
        )

    # the test's side --------------------------------------------------------------------

    def insert(
        self, calendar: str, summary: str, start: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        start = start or datetime.now(UTC) + timedelta(days=1)
        now = rfc3339(datetime.now(UTC))
        event_id = f"ev{next(_ids)}x{secrets.token_hex(3)}"
        event = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            "updated": now,
            "summary": summary,
            "organizer": {"email": "owner@example.org"},
            "start": {"dateTime": rfc3339(start), "timeZone": "Europe/Paris"},
            "end": {"dateTime": rfc3339(start + timedelta(hours=1)), "timeZone": "Europe/Paris"},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            **fields,
        }
        self._write(calendar, event)
        return event

    def update(self, calendar: str, event_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            event = {**self.events[calendar][event_id], **fields}
        event["updated"] = rfc3339(datetime.now(UTC))
        self._write(calendar, event)
        return event

    def move(self, calendar: str, event_id: str, start: datetime) -> dict[str, Any]:
        return self.update(
            calendar, event_id,
            start={"dateTime": rfc3339(start), "timeZone": "Europe/Paris"},
            end={"dateTime": rfc3339(start + timedelta(hours=1)), "timeZone": "Europe/Paris"},
        )  # fmt: skip

    def cancel(self, calendar: str, event_id: str) -> dict[str, Any]:
        return self.update(calendar, event_id, status="cancelled")

    def expire_sync_tokens(self, calendar: str) -> None:
        """Every sync token given so far for ``calendar`` is answered 410 Gone."""
        with self._lock:
            self.token_floor[calendar] = self.counter + 1

    def revoke(self, client_id: str) -> None:
        """A user revokes the client's access: its refresh and access tokens stop working."""
        with self._lock:
            for refresh in [r for r, c in self.refresh_tokens.items() if c == client_id]:
                del self.refresh_tokens[refresh]
            for token in [t for t, (_, who) in self.access.items() if who == client_id]:
                del self.access[token]

    def notify(
        self, channel_id: str, state: str = "exists", token: str | None = None
    ) -> httpx.Response:
        """POST a push notification to the channel's address, as Google does."""
        channel = self.channels[channel_id]
        headers = {
            "X-Goog-Channel-ID": channel_id,
            "X-Goog-Channel-Token": channel["token"] if token is None else token,
            "X-Goog-Resource-ID": channel["resourceId"],
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": channel["resourceUri"],
            "X-Goog-Message-Number": str(next(_ids)),
        }
        return httpx.post(channel["address"], headers=headers, timeout=10)

    def channels_of(self, calendar: str) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["calendar"] == calendar]

    # the API ----------------------------------------------------------------------------

    def _write(self, calendar: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.counter += 1
            self.events.setdefault(calendar, {})[event["id"]] = event
            self.sequence[(calendar, event["id"])] = self.counter

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type")
        with self._lock:
            if grant == "refresh_token":
                ok = self.refresh_tokens.get(str(form.get("refresh_token"))) == form.get(
                    "client_id"
                )
                who = str(form.get("client_id"))
            elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                who, ok = self._assertion(str(form.get("assertion")), str(request.url))
            else:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if not ok:
                body = {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
                return JSONResponse(body, status_code=400)
            token = f"ya29.{secrets.token_urlsafe(24)}"
            self.access[token] = (time.monotonic() + self.expires_in, who)
            self.token_grants.append(who)
        return JSONResponse(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def _assertion(self, assertion: str, audience: str) -> tuple[str, bool]:
        try:
            email = jwt.decode(assertion, options={"verify_signature": False})["iss"]
            key = self.service_accounts[email]
            jwt.decode(assertion, key, algorithms=["RS256"], audience=audience)
        except (jwt.PyJWTError, KeyError):
            return "", False
        return email, True

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            ok = scheme == "Bearer" and self.access.get(token, (0.0, ""))[0] > time.monotonic()
            if not ok:
                self.refused_tokens += 1
        return ok

    async def _list(self, request: Request) -> Response:
        if self.fail_with is not None:
            return error(self.fail_with, "Backend Error", "backendError")
        if not self._authorized(request):
            return error(401, "Invalid Credentials", "authError")
        calendar = unquote(request.path_params["calendar"])
        query = request.query_params
        bearer = request.headers["authorization"].partition(" ")[2]
        self.lists.append({"calendar": calendar, "bearer": bearer, **query})
        ending_after = query.get("timeMin")
        if ending_after is not None and "syncToken" in query:
            return error(400, "Sync token cannot be used with timeMin.", "invalid")
        with self._lock:
            sync = query.get("syncToken")
            if sync is not None:
                since = int(sync.removeprefix("sync-"))
                if since < self.token_floor.get(calendar, 0):
                    return error(
                        410,
                        "Sync token is no longer valid, a full sync is required.",
                        "fullSyncRequired",
                    )
            else:
                since = 0
            found = sorted(
                (s, eid) for (c, eid), s in self.sequence.items() if c == calendar and s > since
            )
            items = [self.events[calendar][eid] for _, eid in found]
            if sync is None and query.get("showDeleted") != "true":
                items = [i for i in items if i["status"] != "cancelled"]
            if ending_after is not None:
                after = instant(ending_after)
                items = [i for i in items if "end" not in i or instant(i["end"]) > after]
            offset = int(query.get("pageToken", "0"))
            size = self.page_size or int(query.get("maxResults", "250"))
            page = items[offset : offset + size]
            body: dict[str, Any] = {
                "kind": "calendar#events",
                "summary": calendar,
                "updated": rfc3339(datetime.now(UTC)),
                "timeZone": "Europe/Paris",
                "accessRole": "reader",
                "items": page,
            }
            if offset + size < len(items):
                body["nextPageToken"] = str(offset + size)
            else:
                body["nextSyncToken"] = f"sync-{self.counter}"
        return JSONResponse(body)

    async def _watch(self, request: Request) -> Response:
        if not self._authorized(request):
            return error(401, "Invalid Credentials", "authError")
        calendar = unquote(request.path_params["calendar"])
        body = await request.json()
        ttl = int(body.get("params", {}).get("ttl", 604800))
        channel = {
            "kind": "api#channel",
            "id": body["id"],
            "resourceId": secrets.token_urlsafe(12),
            "resourceUri": f"https://www.googleapis.com/calendar/v3/calendars/{calendar}/events",
            "token": body.get("token"),
            "expiration": str(int((time.time() + ttl) * 1000)),
        }
        self.channels[body["id"]] = {**channel, "address": body["address"], "calendar": calendar}
        return JSONResponse(channel)

    async def _stop(self, request: Request) -> Response:
        body = await request.json()
        self.channels.pop(body.get("id"), None)
        return Response(status_code=204)


@contextmanager
def serving_api() -> Iterator[tuple[FakeCalendarApi, str]]:
    """The fake on loopback, and its URL (``HIGHWAY_GCAL_API_BASE``, and ``token_uri`` at
    ``/token``)."""
    api = FakeCalendarApi()
    server = ServerThread(api.app()).start()
    try:
        yield api, server.url
    finally:
        server.stop()
