"""What a starting replica does about the slots that came due while it was down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from highway_triggers_cron.aps import Slots

COUNT_LIMIT = 10_000
"""Skipped slots are counted up to this many per schedule and start-up."""
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class Restore:
    """The first run time to schedule, the missed slot to fire now, and what is skipped."""

    first_run: datetime | None
    catch_up: datetime | None = None
    coalesced: int = 0
    """Other missed slots inside the catch-up window, folded into the one catch-up fire."""
    missed: int = 0
    """Missed slots older than the catch-up window."""


def plan_restore(slots: Slots, window: timedelta, since: datetime, now: datetime) -> Restore:
    """Slots after ``since`` (the last fire, or when this version became active) that were due
    by ``now``: the latest fires once if it is inside ``window``, the others are skipped."""
    timetable = slots.timetable
    due_by = now - slots.jitter
    first = timetable.next_after(since)
    if first is None or first > due_by:
        return Restore(None if first is None else first + slots.jitter)
    latest = timetable.last_between(since, due_by)
    assert latest is not None
    horizon = due_by - window  # older slots are not caught up
    catch_up = latest if latest >= horizon else None
    older = min(horizon, latest) - _INSTANT  # the last instant before the in-window slots
    missed = timetable.count_between(since, older, COUNT_LIMIT) + (catch_up is None)
    coalesced = timetable.count_between(max(since, older), latest - _INSTANT, COUNT_LIMIT)
    return Restore(slots.first_after(due_by), catch_up, coalesced, missed)
