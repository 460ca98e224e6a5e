"""The calendar tests' gateway: a real one whose ``http`` engine adapter talks to a
FakeEngine on loopback, with the plugin installed, syncing calendars of a fake Calendar
API on loopback (calendar_api); and the steps the tests repeat.

Tests share a gateway and an API, so each uses its own calendars and workflow ids."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calendar_api import FakeCalendarApi

from highway_triggers.testing import (
    environment,
    FakeEngine,
    PluginHub,
    gateway_settings,
    running_gateway,
    wait_until,
)

PUBLIC_URL = "https://gateway.test"
SETTINGS = {
    "HIGHWAY_GCAL_LEASE_SECONDS": "3",
    "HIGHWAY_GCAL_BACKOFF_INITIAL_SECONDS": "0.1",
    "HIGHWAY_GCAL_BACKOFF_MAX_SECONDS": "1",
    "HIGHWAY_GCAL_TIMEOUT_SECONDS": "5",
}
_names = itertools.count()


@dataclass
class Hub(PluginHub):
    """A running gateway, its engine and the Calendar API it polls."""

    api: FakeCalendarApi
    api_url: str

    def calendar(self) -> str:
        """A new calendar id."""
        return new_calendar()

    def deploy(self, calendar: str, expect: int = 200, **config: Any) -> str:
        workflow_id = f"cal-wf-{next(_names)}"
        self.gateway.deploy(
            workflow_id, trigger(self.api, self.api_url, calendar, **config), expect=expect
        )
        return workflow_id

    def lists(self, calendar: str) -> int:
        """How many ``events.list`` calls of ``calendar`` the API has had."""
        return sum(1 for c in self.api.lists if c["calendar"] == calendar)

    def synced(self, calendar: str, count: int = 1) -> None:
        """Until the API has answered ``count`` lists of ``calendar``."""
        wait_until(lambda: self.lists(calendar) >= count, timeout=10)

    def changes(self, workflow_id: str) -> list[tuple[str, str]]:
        """``(change, summary)`` of each start of the workflow so far."""
        return [
            (c.body["trigger_data"]["change"], c.body["trigger_data"]["summary"])
            for c in self.engine.starts(workflow_id)
        ]

    def health(self) -> dict[str, Any]:
        answer = self.admin.get("/health/detailed")
        body: dict[str, Any] = answer.json()
        return body

    def delivery_log(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        """The GOOGLE_CALENDAR rows of the delivery log; those targeting ``workflow_id``'s
        triggers when given (tests share a gateway)."""
        answer = self.admin.get(
            "/api/v1/deliveries", params={"source": "GOOGLE_CALENDAR", "limit": 500}
        )
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["deliveries"]
        if workflow_id is None:
            return rows
        return [r for r in rows if any(t["workflow_id"] == workflow_id for t in r["targets"])]


def new_calendar() -> str:
    """A calendar id no other test uses."""
    return f"team-{next(_names)}-{secrets.token_hex(3)}@group.calendar.google.com"


def trigger(api: FakeCalendarApi, api_url: str, calendar: str, **config: Any) -> dict[str, Any]:
    """A GOOGLE_CALENDAR trigger of ``calendar`` at the API served at ``api_url``, polled
    every second, with ``config``; its credentials a new refresh token (its client id is
    the calendar)."""
    refresh = f"1//{secrets.token_urlsafe(16)}"
    api.refresh_tokens[refresh] = calendar
    credentials = {
        "type": "oauth",
        "client_id": calendar,
        "client_secret": "GOCSPX-test-secret",
        "refresh_token": refresh,
        "token_uri": f"{api_url}/token",
    }
    config = {
        "calendar_id": calendar,
        "credentials": credentials,
        "poll_interval_seconds": 1,
        **config,
    }
    return {"type": "GOOGLE_CALENDAR", "config": config}


@contextmanager
def gcal_env(api_url: str) -> Iterator[None]:
    with environment({**SETTINGS, "HIGHWAY_GCAL_API_BASE": api_url}):
        yield


@contextmanager
def serving(
    database: str,
    tmp_path: Path,
    engine: FakeEngine,
    engine_url: str,
    api: FakeCalendarApi,
    api_url: str,
) -> Iterator[Hub]:
    settings = gateway_settings(
        database, tmp_path, engine="http", engine_url=engine_url, public_url=PUBLIC_URL
    )
    with gcal_env(api_url), running_gateway(settings) as gateway:
        yield Hub(gateway, engine, api, api_url)
