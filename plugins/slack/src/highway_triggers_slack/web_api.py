"""Slack's Web API, as deploys use it: channel names to ids (``conversations.list``)."""

from __future__ import annotations

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
"""Errors meaning the bot token cannot list channels (``HIGHWAY_SLACK_BOT_TOKEN``)."""


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
        when it cannot be asked."""
        found: dict[str, str] = {}
        params = {
            "types": "public_channel,private_channel",
            "exclude_archived": "true",
            "limit": str(PAGE_SIZE),
        }
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            for _ in range(MAX_PAGES):
                page = await self._call(client, "conversations.list", params)
                for channel in _list(page.get("channels")):
                    name, channel_id = channel.get("name"), channel.get("id")
                    if name in names and isinstance(channel_id, str):
                        found[name] = channel_id
                cursor = page.get("response_metadata")
                cursor = cursor.get("next_cursor") if isinstance(cursor, dict) else None
                if names <= found.keys() or not isinstance(cursor, str) or not cursor:
                    return found
                params["cursor"] = cursor
        raise _unavailable(f"conversations.list has more than {MAX_PAGES} pages")

    async def _call(
        self, client: httpx.AsyncClient, method: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """One Web API call's answer (``"ok": true``)."""
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            answer = await client.get(f"{self._api_url}/{method}", params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise _unavailable(f"{type(exc).__name__} from {self._api_url}") from None
        if answer.status_code == 429:
            wait = answer.headers.get("retry-after", "?")
            raise _unavailable(f"{method} is rate limited (Retry-After: {wait} s)")
        if answer.status_code != 200:
            raise _unavailable(f"{self._api_url}/{method} answered {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _unavailable(f"{method} answered something that is not a JSON object")
        if body.get("ok") is True:
            return body
        error = str(body.get("error", "unknown_error"))[:100]
        if error in REFUSED_TOKEN:
            raise HTTPError(
                503,
                "SLACK_TOKEN_REFUSED",
                f"Slack refused HIGHWAY_SLACK_BOT_TOKEN for {method}: {error} (the bot needs "
                "the scopes channels:read and groups:read)",
            )
        raise _unavailable(f"{method} answered the error {error!r}")


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _unavailable(why: str) -> HTTPError:
    return HTTPError(
        503, "SLACK_API_UNAVAILABLE", f"Slack's Web API could not resolve channel names: {why}"
    )
