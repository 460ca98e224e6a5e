"""The gateway stopped and started again on the same database: what was routed before
the stop is not routed again (the sync token moved with its dispatch), and the changes
made while it was down, a ``starting`` fire among them, are routed once after."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calendar_api import FakeCalendarApi
from gcal_hub import serving

from highway_triggers.testing import running_engine


def test_a_restart_neither_doubles_nor_misses_a_change(
    database_url: str, tmp_path: Path, calendar_api: tuple[FakeCalendarApi, str]
) -> None:
    api, _ = calendar_api
    events = ["created", "cancelled", "starting"]
    with running_engine() as (engine, engine_url):
        with serving(database_url, tmp_path, engine, engine_url, *calendar_api) as first:
            calendar = first.calendar()
            workflow = first.deploy(calendar, events=events, minutes_before=0.05)  # 3 s
            first.synced(calendar, 2)
            before = api.insert(calendar, "before the stop")
            first.starts(workflow, 1)
        api.insert(calendar, "while down")
        api.cancel(calendar, before["id"])
        api.insert(calendar, "soon", start=datetime.now(UTC) + timedelta(seconds=6))
        lists = first.lists(calendar)
        with serving(database_url, tmp_path, engine, engine_url, *calendar_api) as second:
            second.starts(workflow, 5)
            second.synced(calendar, lists + 3)  # more syncs: nothing routed again
            log = second.delivery_log(workflow)
            changes = second.changes(workflow)
    assert Counter(changes) == Counter([
        ("created", "before the stop"),
        ("created", "while down"),
        ("cancelled", "before the stop"),
        ("created", "soon"),
        ("starting", "soon"),
    ])  # fmt: skip
    assert Counter(row["outcome"] for row in log) == {"delivered": 5}
