"""Incremental sync against the fake Calendar API: the baseline fires nothing; created,
updated and cancelled events are routed as configured (filtered ones logged with the
reason); pages are followed; an expired sync token (410) resyncs without duplicates; an
outage (429, 5xx) is tried again with backoff, shown in health, and what changed meanwhile
arrives once."""

from __future__ import annotations

import time

from gcal_hub import Hub

from highway_triggers.testing import metric, wait_until


def test_changes_are_routed_as_configured_after_a_silent_baseline(hub: Hub) -> None:
    calendar = hub.calendar()
    hub.api.insert(calendar, "existing before the deploy")
    workflow = hub.deploy(calendar, events=["created", "cancelled"], summary_pattern="^Team")
    hub.synced(calendar, 2)  # the baseline and one incremental sync
    created = hub.api.insert(calendar, "Team sync")
    hub.api.insert(calendar, "lunch")  # filtered by summary_pattern
    hub.starts(workflow, 1)
    time.sleep(1.1)  # an update is told from a creation by its time
    lists = len(hub.api.lists)
    hub.api.update(calendar, created["id"], summary="Team sync (moved room)")  # not in events
    wait_until(lambda: len(hub.api.lists) > lists + 1)
    hub.api.cancel(calendar, created["id"])
    calls = hub.starts(workflow, 2)
    data = calls[1].body["trigger_data"]
    assert hub.changes(workflow) == [
        ("created", "Team sync"),
        ("cancelled", "Team sync (moved room)"),
    ]
    assert data["calendar_id"] == calendar and data["event_id"] == created["id"]
    assert data["html_link"] == created["htmlLink"] and data["event"]["status"] == "cancelled"
    assert data["organizer"] == {"email": "owner@example.org"} and data["attendees"] == []
    rows = wait_until(lambda: len(r := hub.delivery_log(workflow)) >= 4 and r)
    # four, not five: the event that existed before the deploy is not among them
    assert sorted(r["outcome"] for r in rows) == ["delivered", "delivered", "filtered", "filtered"]
    reasons = " ".join(r["reason"] for r in rows if r["outcome"] == "filtered")
    assert "summary 'lunch' does not match '^Team'" in reasons
    assert "change 'updated' is not in events" in reasons
    changes = "highway_gcal_changes_total"
    assert metric(hub.admin, changes, change="created", outcome="delivered") >= 1
    assert metric(hub.admin, changes, change="created", outcome="filtered") >= 1
    assert metric(hub.admin, changes, change="updated", outcome="filtered") >= 1
    assert metric(hub.admin, changes, change="cancelled", outcome="delivered") >= 1


def test_pages_and_an_expired_sync_token_route_each_change_once(hub: Hub) -> None:
    calendar = hub.calendar()
    workflow = hub.deploy(calendar, events=["created", "updated"])
    hub.synced(calendar, 2)
    hub.api.page_size = 2
    try:
        for n in range(5):
            hub.api.insert(calendar, f"paged {n}")
        hub.starts(workflow, 5)
        hub.api.expire_sync_tokens(calendar)
        hub.api.insert(calendar, "after the expiry")
        hub.starts(workflow, 6)
        hub.synced(calendar, hub.lists(calendar) + 2)  # more syncs: nothing routed twice
    finally:
        hub.api.page_size = None
    assert sorted(s for _, s in hub.changes(workflow)) == sorted(
        [f"paged {n}" for n in range(5)] + ["after the expiry"]
    )
    assert any(c.get("pageToken") for c in hub.api.lists if c["calendar"] == calendar)
    assert metric(hub.admin, "highway_gcal_syncs_total", kind="full") >= 1
    assert metric(hub.admin, "highway_gcal_syncs_total", kind="incremental") >= 1


def test_an_outage_is_retried_with_backoff_and_what_changed_meanwhile_arrives_once(
    sqlite_hub: Hub,
) -> None:
    hub = sqlite_hub
    calendar = hub.calendar()
    workflow = hub.deploy(calendar)
    hub.synced(calendar, 1)

    def failed() -> float:
        return metric(hub.admin, "highway_gcal_errors_total", kind="unavailable")

    def calendar_problems() -> list[str]:
        return [p for p in hub.health()["problems"] if calendar in p]

    before = failed()
    with hub.api.down(503):
        hub.api.insert(calendar, "during the outage")
        problems = wait_until(calendar_problems, timeout=15)
        assert "503" in problems[0], problems
        tried = failed()
        time.sleep(3)
        tried = failed() - tried
    # tried again (0.1 s doubling up to 1 s in these tests), not in a tight loop
    assert 1 <= tried <= 8, tried
    assert failed() - before >= 2

    hub.starts(workflow, 1)
    time.sleep(1.5)
    assert hub.changes(workflow) == [("created", "during the outage")]
    assert wait_until(lambda: not calendar_problems(), timeout=10)
