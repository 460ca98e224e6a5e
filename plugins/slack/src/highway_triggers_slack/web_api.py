"""Slack's Web API, as the plugin uses it: channel names to ids at deploy
(``conversations.list``), prompts posted (``chat.postMessage``) and withdrawn
(``chat.delete``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from highway_triggers.plugin import HTTPError

PAGE_SIZE = 200
MAX_PAGES = 100
"""Pages of ``conversations.list`` read at most (20,000 channels)."""
REFUSED_TOKEN = frozenset(
    {
        "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
        "no_permission", "missing_scope", "not_allowed_token_type",
    }
)  # fmt: skip
"""Errors meaning the bot token cannot make the call (``HIGHWAY_SLACK_BOT_TOKEN``)."""
RESOLVING = "could not resolve channel names"
POSTING = "could not post the prompt"


@dataclass(frozen=True, slots=True)
class Posted:
    """A message ``chat.postMessage`` posted: its channel's id, its ``ts``, and the
    workspace Slack names in the message (``None`` when it names none)."""

    channel: str
    ts: str
    team: str | None


class SlackWebApi:
    """The Web API at ``api_url`` (``https://slack.com/api``), called with a bot token."""

    def __init__(self, token: str, api_url: str, timeout: float) -> None:
        self._token = token
        self._api_url = api_url
        self._timeout = timeout

    async def channel_ids(self, names: set[str]) -> dict[str, str]:
        """The id of each channel in ``names`` (without ``#``) the bot can see, by name,
        read page by page (``response_metadata.next_cursor``) until all are found.

        503 ``SLACK_TOKEN_REFUSED`` when Slack refuses the token, ``SLACK_API_UNAVAILABLE``
        when it cannot be asked or answers an error."""
        found: dict[str, str] = {}
        params = {
            "types": "public_channel,private_channel",
            "exclude_archived": "true",
            "limit": str(PAGE_SIZE),
        }
        scopes = "channels:read and groups:read"
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            for _ in range(MAX_PAGES):
                page = await self._call(client, "conversations.list", RESOLVING, scopes, params)
                for channel in _list(page.get("channels")):
                    name, channel_id = channel.get("name"), channel.get("id")
                    if name in names and isinstance(channel_id, str):
                        found[name] = channel_id
                cursor = page.get("response_metadata")
                cursor = cursor.get("next_cursor") if isinstance(cursor, dict) else None
                if names <= found.keys() or not isinstance(cursor, str) or not cursor:
                    return found
                params["cursor"] = cursor
        raise _unavailable(RESOLVING, f"conversations.list has more than {MAX_PAGES} pages")

    async def post_message(self, message: dict[str, Any]) -> Posted:
        """Post ``message`` (``channel``, ``text``, ``blocks`` …) with ``chat.postMessage``.

        503 ``SLACK_TOKEN_REFUSED`` or ``SLACK_API_UNAVAILABLE`` as :meth:`channel_ids`;
        502 ``SLACK_API_ERROR`` when Slack refuses the message (``channel_not_found``,
        ``not_in_channel``, ``invalid_blocks`` …)."""
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            answer = await self._call(
                client, "chat.postMessage", POSTING, "chat:write", json=message, refused=502
            )
        channel, ts = answer.get("channel"), answer.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
            raise HTTPError(
                502, "SLACK_API_ERROR", "chat.postMessage answered ok without a channel and ts"
            )
        team = answer.get("message")
        team = team.get("team") if isinstance(team, dict) else None
        return Posted(channel, ts, team if isinstance(team, str) and team else None)

    async def delete_message(self, channel: str, ts: str) -> bool:
        """Withdraw a message the bot posted (``chat.delete``); whether Slack did."""
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                await self._call(
                    client,
                    "chat.delete",
                    POSTING,
                    "chat:write",
                    json={"channel": channel, "ts": ts},
                )
        except HTTPError:
            return False
        return True

    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        doing: str,
        scopes: str,
        params: dict[str, str] | None = None,
        *,
        json: dict[str, Any] | None = None,
        refused: int = 503,
    ) -> dict[str, Any]:
        """One Web API call's answer (``"ok": true``): a GET with ``params``, or a POST of
        ``json``. An error Slack answers other than a refused token is ``refused``."""
        headers = {"Authorization": f"Bearer {self._token}"}
        url = f"{self._api_url}/{method}"
        try:
            if json is None:
                answer = await client.get(url, params=params, headers=headers)
            else:
                answer = await client.post(url, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise _unavailable(doing, f"{type(exc).__name__} from {self._api_url}") from None
        if answer.status_code == 429:
            wait = answer.headers.get("retry-after", "?")
            raise _unavailable(doing, f"{method} is rate limited (Retry-After: {wait} s)")
        if answer.status_code != 200:
            raise _unavailable(doing, f"{url} answered {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _unavailable(doing, f"{method} answered something that is not a JSON object")
        if body.get("ok") is True:
            return body
        error = str(body.get("error", "unknown_error"))[:100]
        if error in REFUSED_TOKEN:
            raise HTTPError(
                503,
                "SLACK_TOKEN_REFUSED",
                f"Slack refused HIGHWAY_SLACK_BOT_TOKEN for {method}: {error} (the bot needs "
                f"the scopes {scopes})",
            )
        if refused == 503:
            raise _unavailable(doing, f"{method} answered the error {error!r}")
        raise HTTPError(refused, "SLACK_API_ERROR", f"{method} answered the error {error!r}")


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _unavailable(doing: str, why: str) -> HTTPError:
    return HTTPError(503, "SLACK_API_UNAVAILABLE", f"Slack's Web API {doing}: {why}")
