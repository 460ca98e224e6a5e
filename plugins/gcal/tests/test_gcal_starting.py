"""``starting``: an event fires once, ``minutes_before`` its start; moving it moves the
fire, cancelling it drops it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from gcal_hub import Hub

from highway_triggers.testing import metric


def test_starting_fires_on_time_and_moves_with_the_event(hub: Hub) -> None:
    calendar = hub.calendar()
    workflow = hub.deploy(calendar, events=["starting"], minutes_before=0.05)  # 3 s before
    hub.synced(calendar, 2)
    now = datetime.now(UTC)
    moved = hub.api.insert(calendar, "moved", start=now + timedelta(seconds=6))
    dropped = hub.api.insert(calendar, "dropped", start=now + timedelta(seconds=6))
    time.sleep(1.2)
    hub.api.move(calendar, moved["id"], now + timedelta(seconds=9))
    hub.api.cancel(calendar, dropped["id"])
    call = hub.starts(workflow, 1)[0]
    fired_at = datetime.now(UTC)
    assert call.body["trigger_data"]["change"] == "starting"
    assert call.body["trigger_data"]["summary"] == "moved"
    assert now + timedelta(seconds=5.5) <= fired_at <= now + timedelta(seconds=7.5), fired_at - now
    time.sleep(1.5)
    assert len(hub.engine.starts(workflow)) == 1
    assert (
        metric(hub.admin, "highway_gcal_changes_total", change="starting", outcome="delivered") >= 1
    )
