"""Google's side: access tokens (an OAuth refresh token, or a service account's RS256 JWT
grant) refreshed before they expire, and the Calendar API v3 calls the pollers make."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from highway_triggers.plugin import HTTPError, parse_json
from highway_triggers_gcal.config import OAuthCredentials, ServiceAccountCredentials

SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = 3600
"""Google takes a service account's assertion for at most an hour."""


class Revoked(Exception):
    """The token endpoint refused the credentials for good (``invalid_grant``): the
    trigger stops until it is deployed again."""


class SyncTokenGone(Exception):
    """``410 Gone``: the sync token expired; a full sync is needed."""


class Unavailable(Exception):
    """429, 5xx, a timeout or an unreachable host: tried again after a backoff."""


class Refused(Exception):
    """Any other error answer (403 without a retry, 404 calendar): tried again after a
    backoff, shown in health."""


@dataclass(frozen=True, slots=True)
class Page:
    """One ``events.list`` page."""

    items: list[dict[str, Any]]
    next_page_token: str | None
    next_sync_token: str | None
    time_zone: str | None


class Tokens:
    """An access token for ``credentials`` (secrets unsealed), fetched when missing or
    within ``margin`` seconds of expiring (at most half its life)."""

    def __init__(
        self,
        credentials: OAuthCredentials | ServiceAccountCredentials,
        client: httpx.AsyncClient,
        margin: float,
    ) -> None:
        self._credentials = credentials
        self._client = client
        self._margin = margin
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshed = 0

    async def get(self) -> str:
        if self._token is None or time.monotonic() >= self._refresh_at:
            await self.refresh()
        assert self._token is not None
        return self._token

    def forget(self) -> None:
        """The API refused the token (401): fetch another next time."""
        self._token = None

    async def refresh(self) -> None:
        credentials = self._credentials
        if isinstance(credentials, OAuthCredentials):
            form = {
                "grant_type": "refresh_token",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "refresh_token": credentials.refresh_token,
            }
        else:
            form = {"grant_type": JWT_GRANT, "assertion": assertion(credentials)}
        try:
            answer = await self._client.post(credentials.token_uri, data=form)
        except httpx.HTTPError as error:
            raise Unavailable(f"token endpoint: {type(error).__name__}") from None
        body = _json(answer)
        if answer.status_code in (400, 401) and body.get("error") in (
            "invalid_grant", "invalid_client", "unauthorized_client",
        ):  # fmt: skip
            raise Revoked(f"the token endpoint answered {body['error']}")
        if answer.status_code == 429 or answer.status_code >= 500:
            raise Unavailable(f"token endpoint answered {answer.status_code}")
        token, expires_in = body.get("access_token"), body.get("expires_in", 3600)
        if answer.status_code != 200 or not isinstance(token, str):
            raise Refused(f"token endpoint answered {answer.status_code}")
        life = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._token = token
        self._refresh_at = time.monotonic() + life - min(self._margin, life / 2)
        self.refreshed += 1


def assertion(credentials: ServiceAccountCredentials, now: float | None = None) -> str:
    """The RS256 JWT a service account trades for an access token."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": credentials.client_email,
        "scope": SCOPE,
        "aud": credentials.token_uri,
        "iat": issued,
        "exp": issued + JWT_LIFETIME,
    }
    if credentials.subject is not None:
        claims["sub"] = credentials.subject
    try:
        return jwt.encode(claims, credentials.private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as error:
        raise Revoked(f"private_key is not an RSA private key ({type(error).__name__})") from None


class Calendar:
    """The Calendar API calls on one calendar."""

    def __init__(
        self,
        api_base: str,
        calendar_id: str,
        tokens: Tokens,
        client: httpx.AsyncClient,
        max_depth: int,
    ) -> None:
        self._max_depth = max_depth
        self._events = f"{api_base.rstrip('/')}/calendars/{quote(calendar_id, safe='')}/events"
        self._channels = f"{api_base.rstrip('/')}/channels"
        self._tokens = tokens
        self._client = client

    async def page(
        self,
        *,
        sync_token: str | None,
        page_token: str | None,
        page_size: int,
        ending_after: datetime | None = None,
    ) -> Page:
        """One page of ``events.list`` (instances of recurring events, deleted ones too);
        with ``ending_after`` (``timeMin``, which Google refuses beside a sync token), only
        the events that end after it."""
        params: dict[str, Any] = {
            "singleEvents": "true",
            "showDeleted": "true",
            "maxResults": page_size,
        }
        if sync_token is not None:
            params["syncToken"] = sync_token
        if ending_after is not None:
            params["timeMin"] = ending_after.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if page_token is not None:
            params["pageToken"] = page_token
        body = await self._call("GET", self._events, params=params)
        items = body.get("items") or []
        return Page(
            items=[i for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)],
            next_page_token=_str(body.get("nextPageToken")),
            next_sync_token=_str(body.get("nextSyncToken")),
            time_zone=_str(body.get("timeZone")),
        )

    async def watch(self, channel_id: str, token: str, address: str, ttl: int) -> dict[str, Any]:
        """Open a push channel (``events.watch``); Google's channel resource."""
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl)},
        }
        return await self._call("POST", f"{self._events}/watch", json=body)

    async def stop(self, channel_id: str, resource_id: str) -> None:
        """Close a push channel (``channels.stop``)."""
        body = {"id": channel_id, "resourceId": resource_id}
        await self._call("POST", f"{self._channels}/stop", json=body)

    async def _call(self, method: str, url: str, **options: Any) -> dict[str, Any]:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._tokens.get()}"}
            try:
                answer = await self._client.request(method, url, headers=headers, **options)
            except httpx.HTTPError as error:
                raise Unavailable(f"{type(error).__name__} from the Calendar API") from None
            if answer.status_code == 401 and attempt == 1:
                self._tokens.forget()
                continue
            break
        status = answer.status_code
        if status == 410:
            raise SyncTokenGone()
        if status == 429 or status >= 500:
            raise Unavailable(f"the Calendar API answered {status}")
        if status >= 400:
            raise Refused(f"the Calendar API answered {status}")
        try:
            found = parse_json(answer.content, max_depth=self._max_depth) if answer.content else {}
        except HTTPError as error:
            raise Refused(f"the Calendar API answered unusable JSON: {error.message}") from None
        return found if isinstance(found, dict) else {}


def _json(answer: httpx.Response) -> dict[str, Any]:
    if not answer.content:
        return {}
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
