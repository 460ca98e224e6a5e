"""Restart: slots missed while the gateway was down are fired once (coalesced) inside the
catch-up window and skipped (counted) beyond it; nothing fires twice after a restart."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from highway_triggers_cron.aps import Slots
from highway_triggers_cron.catchup import Restore, plan_restore
from highway_triggers_cron.claims import CLAIMS
from highway_triggers_cron.config import CronConfig
from highway_triggers_cron.service import scheduler_of
from sqlalchemy import insert

from highway_triggers.plugin import Database
from highway_triggers.testing import (
    RunningGateway,
    Settings,
    gateway_settings,
    new_gateway,
    running_gateway,
    wait_until,
)

BERLIN = ZoneInfo("Europe/Berlin")


def slots(expression: str, jitter: float = 0, **config: Any) -> Slots:
    return Slots.of("t1", CronConfig(cron_expression=expression, jitter_seconds=jitter, **config))


def at(hh_mm_ss: str) -> datetime:
    return datetime.fromisoformat(f"2025-06-02T{hh_mm_ss}+00:00")


@pytest.mark.parametrize(
    ("since", "now", "window", "expected"),
    [
        ("10:00:00", "10:00:30", 60, Restore(at("10:01:00"))),  # nothing missed
        ("10:00:00", "10:05:30", 120, Restore(at("10:06:00"), at("10:05:00"), 1, 3)),
        ("10:00:00", "10:05:30", 10, Restore(at("10:06:00"), None, 0, 5)),
        ("10:00:00", "10:05:30", 0, Restore(at("10:06:00"), None, 0, 5)),
        ("10:00:00", "10:01:00", 0, Restore(at("10:02:00"), at("10:01:00"), 0, 0)),  # due now
        (
            "10:02:30",
            "10:05:30",
            600,
            Restore(at("10:06:00"), at("10:05:00"), 2, 0),
        ),  # since activation
    ],
)
def test_plan_restore(since: str, now: str, window: int, expected: Restore) -> None:
    plan = plan_restore(slots("* * * * *"), timedelta(seconds=window), at(since), at(now))
    assert plan == expected


def test_plan_restore_counts_a_slot_due_only_once_its_jitter_has_passed() -> None:
    jittered = slots("* * * * *", jitter=20)
    assert jittered.jitter > timedelta(seconds=10)  # "t1" draws 15.9 s of 20
    plan = plan_restore(jittered, timedelta(minutes=5), at("10:00:00"), at("10:05:10"))
    assert plan == Restore(at("10:05:00") + jittered.jitter, at("10:04:00"), 3, 0)


def test_plan_restore_after_the_end() -> None:
    ended = slots("* * * * *", end_at=at("10:03:00"))
    plan = plan_restore(ended, timedelta(minutes=10), at("10:00:00"), at("10:05:30"))
    assert plan == Restore(None, at("10:03:00"), 2, 0)


@contextmanager
def gateway_at(settings: Settings, clock: Callable[[], datetime]) -> Iterator[RunningGateway]:
    """A served gateway whose scheduler believes it is ``clock()`` (APScheduler runs on)."""
    gateway = new_gateway(settings)
    scheduler_of(gateway.context).clock = clock
    with running_gateway(gateway=gateway) as running:
        yield running


def started(running: RunningGateway) -> list[dict[str, Any]]:
    """The trigger data of the runs the recorder engine was asked to start."""
    return [call.data["trigger_data"] for call in running.gateway.engine.calls]


def metric(running: RunningGateway, name: str, **labels: str) -> float:
    samples = running.gateway.metrics.registry.get_sample_value(name, labels)
    return 0.0 if samples is None else samples


def test_catch_up_after_downtime_within_and_beyond_the_window(settings: Settings) -> None:
    # a morning a month from now, so that the real clock never reaches the fake one
    day = (datetime.now(BERLIN) + timedelta(days=30)).date()
    nine = datetime(day.year, day.month, day.day, 9, tzinfo=BERLIN)
    with gateway_at(settings, lambda: nine - timedelta(hours=2)) as first:
        client = first.client()
        ids = {
            window: client.post(
                "/api/v1/schedules",
                json={
                    "cron_expression": "0 9 * * *",
                    "timezone": "Europe/Berlin",
                    "workflow_id": f"wf-{window}",
                    "catchup_window_seconds": window,
                },
            ).json()["schedule_id"]
            for window in (600, 60)
        }
    # the last fire of both was three mornings ago; the gateway comes back at 09:05
    db = Database(settings.database_url)
    with db.engine.begin() as conn:
        last = nine - timedelta(days=3)
        conn.execute(
            insert(CLAIMS),
            [{"trigger_id": i, "scheduled_at": last, "claimed_at": last} for i in ids.values()],
        )
    db.close()
    with gateway_at(settings, lambda: nine + timedelta(minutes=5)) as second:
        fired = wait_until(lambda: started(second))
        time.sleep(0.3)  # nothing else comes
        assert started(second) == fired and len(fired) == 1
        assert fired[0]["schedule_id"] == ids[600]
        assert fired[0]["scheduled_at"] == nine.astimezone(UTC).isoformat().replace("+00:00", "Z")
        assert fired[0]["scheduled_local"] == nine.isoformat() and fired[0]["catch_up"] is True
        assert metric(second, "highway_cron_fires_total", kind="catch_up") == 1
        # 600 s window: the two mornings before were missed; 60 s: all three
        assert metric(second, "highway_cron_skipped_total", reason="missed") == 2 + 3
        schedule = second.client().get(f"/api/v1/schedules/{ids[600]}").json()
        assert schedule["last_run_at"] == fired[0]["scheduled_at"]
    with gateway_at(settings, lambda: nine + timedelta(minutes=6)) as third:
        time.sleep(0.5)
        assert started(third) == []  # the claim says this morning has fired
        assert metric(third, "highway_cron_skipped_total", reason="missed") == 3  # 60 s: still


def test_restart_in_real_time_fires_every_slot_once(tmp_path: Path) -> None:
    """A 1-second schedule, the gateway down for ~3 s with a 1-second catch-up window."""
    settings = gateway_settings(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    fired: list[dict[str, Any]] = []
    body = {"cron_expression": "* * * * * *", "workflow_id": "wf", "catchup_window_seconds": 1}
    with gateway_at(settings, lambda: datetime.now(UTC)) as first:
        schedule_id = first.client().post("/api/v1/schedules", json=body).json()["schedule_id"]
        wait_until(lambda: len(started(first)) >= 2)
    fired += started(first)
    time.sleep(3)
    with gateway_at(settings, lambda: datetime.now(UTC)) as second:
        wait_until(lambda: len(started(second)) >= 3)
        skipped = metric(second, "highway_cron_skipped_total", reason="missed") + metric(
            second, "highway_cron_skipped_total", reason="coalesced"
        )
        caught_up = metric(second, "highway_cron_fires_total", kind="catch_up")
    fired += started(second)
    slots_fired = [datetime.fromisoformat(f["scheduled_at"]) for f in fired]
    assert all(f["schedule_id"] == schedule_id for f in fired)
    assert not [s for s, n in Counter(slots_fired).items() if n > 1], "a slot fired twice"
    assert caught_up == 1 and [f["catch_up"] for f in fired].count(True) == 1
    # every slot from the first to the last either fired once or was counted as skipped
    span = int((max(slots_fired) - min(slots_fired)).total_seconds()) + 1
    assert len(slots_fired) + skipped == span
    assert skipped >= 2  # the gateway was down for about three slots
