"""Two gateway processes on one PostgreSQL database, one GOOGLE_CALENDAR trigger: exactly
one replica polls the calendar (it holds the trigger's lease, 3 s here); killed with
SIGKILL, the other takes the calendar over within the lease, the third of it that a
waiting replica retries in and a poll, and goes on from the stored sync token. Every
event starts one run, and a ``starting`` occurrence fires once across the takeover.

The fake Calendar API tells pollers apart by their access tokens: a poller fetches one
when it starts and keeps it (it lives an hour)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from calendar_api import FakeCalendarApi, instant
from gcal_hub import SETTINGS, new_calendar, trigger

from highway_triggers.testing import (
    FakeEngine,
    GatewayProcess,
    running_replicas,
    wait_until,
)

LEASE_SECONDS = float(SETTINGS["HIGHWAY_GCAL_LEASE_SECONDS"])
POLL_SECONDS = 1.0  # the trigger's poll_interval_seconds (gcal_hub.trigger)
TAKEOVER_SECONDS = LEASE_SECONDS + LEASE_SECONDS / 3 + POLL_SECONDS
"""The lease runs out at most LEASE after its holder's last renewal; the other replica tries
every third of it, and polls at once."""

Replicas = tuple[GatewayProcess, GatewayProcess, FakeEngine]


@pytest.fixture
def replicas(
    postgres_url: str,
    tmp_path: Path,
    bytecode_env: dict[str, str],
    calendar_api: tuple[FakeCalendarApi, str],
) -> Iterator[Replicas]:
    plugin = {**SETTINGS, "HIGHWAY_GCAL_API_BASE": calendar_api[1]}
    with running_replicas(postgres_url, tmp_path, env=bytecode_env | plugin) as running:
        (first, second), engine = running
        yield first, second, engine


def deploy(replica: GatewayProcess, workflow_id: str, definition: dict[str, Any]) -> None:
    """Deploy one trigger through the replica's admin API (both replicas run it)."""
    answer = replica.admin.post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy", json={"triggers": [definition]}
    )
    assert answer.status_code == 200, answer.text


def polling(replica: GatewayProcess) -> bool:
    """Whether the replica polls a calendar (holds a GOOGLE_CALENDAR trigger's lease)."""
    health = replica.admin.get("/health/detailed").json()
    calendars = health["plugins_health"]["highway-triggers-gcal"]["calendars"]
    return any(c["polling"] for c in calendars)


def holder(a: GatewayProcess, b: GatewayProcess) -> tuple[GatewayProcess, GatewayProcess]:
    """The replica that polls, once one does, and the other."""
    found: GatewayProcess = wait_until(lambda: next((r for r in (a, b) if polling(r)), None))
    return found, b if found is a else a


def lists(api: FakeCalendarApi, calendar: str) -> list[dict[str, str]]:
    """The calendar's ``events.list`` calls so far."""
    return [call for call in list(api.lists) if call["calendar"] == calendar]


def pollers(api: FakeCalendarApi, calendar: str) -> list[list[dict[str, str]]]:
    """The calendar's ``events.list`` calls by access token, one list per poller, in the
    order the pollers began."""
    calls: dict[str, list[dict[str, str]]] = {}
    for call in lists(api, calendar):
        calls.setdefault(call["bearer"], []).append(call)
    return list(calls.values())


def sync_number(call: dict[str, str]) -> int:
    """How far into the calendar's changes the call's sync token is (the fake's tokens
    count them)."""
    return int(call["syncToken"].removeprefix("sync-"))


def runs(engine: FakeEngine, workflow_id: str) -> Counter[str]:
    """Runs the engine accepted (by idempotency key: a retried start is one run), by event
    id."""
    return Counter(
        call.body["trigger_data"]["event_id"]
        for call in engine.accepted().values()
        if call.path == f"/v2/workflows/{workflow_id}/execute"
    )


def dispatches(replica: GatewayProcess, workflow_id: str) -> Counter[str]:
    """The workflow's dispatch rows in the shared database, by event id."""
    rows = replica.admin.get(
        "/api/v1/dispatches", params={"workflow_id": workflow_id, "limit": 1000}
    ).json()["dispatches"]
    return Counter(row["payload"]["event_id"] for row in rows)


@pytest.mark.postgres
def test_one_replica_polls_and_the_other_goes_on_from_the_sync_token_when_it_is_killed(
    replicas: Replicas, calendar_api: tuple[FakeCalendarApi, str]
) -> None:
    """One replica polls (one access token, the other replica never asks for one, nor
    shows polling); killed in the middle of a stream of events, the other takes over in
    time with a sync from the stored token, never a full one; every event created before
    the kill, while none polled and after the takeover starts one run."""
    a, b, engine = replicas
    api, api_url = calendar_api
    calendar, workflow = new_calendar(), "cal-replicas"
    deploy(a, workflow, trigger(api, api_url, calendar))
    first, standby = holder(a, b)
    wait_until(lambda: len(lists(api, calendar)) >= 2)  # the baseline, a sync from its token
    events: list[str] = []

    def stream() -> None:
        for n in range(30):
            events.append(api.insert(calendar, f"event {n}")["id"])
            time.sleep(0.1)

    streaming = threading.Thread(target=stream)
    streaming.start()

    def started_while_one_polls() -> bool:
        assert not polling(standby)
        return len(runs(engine, workflow)) >= 10

    wait_until(started_while_one_polls, timeout=15)
    first.kill()
    killed_at = time.monotonic()
    assert len(pollers(api, calendar)) == 1  # one poller from the deploy to the kill
    assert api.token_grants.count(calendar) == 1  # the standby never fetched a token

    wait_until(lambda: len(pollers(api, calendar)) == 2, timeout=2 * TAKEOVER_SECONDS)
    took_over = time.monotonic() - killed_at
    assert polling(standby)
    streaming.join()
    events += [api.insert(calendar, f"after the takeover {n}")["id"] for n in range(5)]
    wait_until(lambda: len(runs(engine, workflow)) == len(events), timeout=30)
    synced = len(lists(api, calendar))
    wait_until(lambda: len(lists(api, calendar)) >= synced + 2)  # more syncs: none routed twice

    assert dispatches(standby, workflow) == Counter(events)
    assert runs(engine, workflow) == Counter(events)
    before, after = pollers(api, calendar)
    # a baseline once, then each sync from the stored token; the takeover's first too, and
    # from no earlier a token than the killed poller's last
    assert [c.get("syncToken") is None for c in before] == [True] + [False] * (len(before) - 1)
    assert all("syncToken" in c for c in after)
    assert sync_number(after[0]) >= sync_number(before[-1])
    print(f"taken over {took_over:.2f} s after the holder was killed")
    assert took_over < TAKEOVER_SECONDS


@pytest.mark.postgres
def test_a_starting_occurrence_fires_once_across_a_takeover(
    replicas: Replicas, calendar_api: tuple[FakeCalendarApi, str]
) -> None:
    """``starting`` 9 s before each start, three occurrences: one fired by the first
    holder, which is then killed, is not fired again by the replica that takes over (it
    finds it still ahead, and due); one due while none polled fires late, on the
    takeover; the last on time. Each starts one run."""
    a, b, engine = replicas
    api, api_url = calendar_api
    calendar, workflow = new_calendar(), "cal-starting-replicas"
    deploy(a, workflow, trigger(api, api_url, calendar, events=["starting"], minutes_before=0.15))
    first, standby = holder(a, b)
    wait_until(lambda: len(lists(api, calendar)) >= 2)
    now, clock = datetime.now(UTC), time.monotonic()

    def due_in(seconds: float) -> datetime:
        """The start of an occurrence whose fire is due ``seconds`` after ``clock``."""
        return now + timedelta(minutes=0.15, seconds=seconds)

    fired = api.insert(calendar, "fired before the kill", start=due_in(2))
    missed = api.insert(calendar, "due while none polls", start=due_in(4.5))
    later = api.insert(calendar, "due after the takeover", start=due_in(8))

    (call,) = engine.started(workflow)
    assert call.body["trigger_data"]["event_id"] == fired["id"]
    first.kill()
    killed_at, killed = time.monotonic(), datetime.now(UTC)
    wait_until(lambda: polling(standby), timeout=TAKEOVER_SECONDS)
    assert time.monotonic() < clock + 10  # taken over before the fired one starts (+ 11)

    wait_until(lambda: len(runs(engine, workflow)) == 3, timeout=20)
    synced = len(lists(api, calendar))
    wait_until(lambda: len(lists(api, calendar)) >= synced + 2)  # more rounds: none fired twice
    assert runs(engine, workflow) == Counter(e["id"] for e in (fired, missed, later))
    assert dispatches(standby, workflow) == runs(engine, workflow)
    # the takeover rebuilt its fires from the events still to end, then synced on
    rebuild, resumed = pollers(api, calendar)[1][:2]
    assert "syncToken" not in rebuild and instant(rebuild["timeMin"]) >= killed, rebuild
    assert "syncToken" in resumed and "timeMin" not in resumed, resumed
    received: dict[str, float] = {}  # each event's first start (a retry comes later)
    for c in engine.starts(workflow):
        received.setdefault(c.body["trigger_data"]["event_id"], c.received_at)
    assert received[missed["id"]] > killed_at  # late, by the replica that took over
    assert clock + 7.5 <= received[later["id"]] <= clock + 9.5  # on time, by the same
