"""The DST rule, in America/New_York and Europe/Berlin (2025).

New York springs forward on 9 March (02:00 EST -> 03:00 EDT) and falls back on 2 November
(02:00 EDT -> 01:00 EST); Berlin on 30 March (02:00 CET -> 03:00 CEST) and 26 October
(03:00 CEST -> 02:00 CET).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import accumulate, pairwise

import pytest
from highway_triggers_cron.aps import Slots
from highway_triggers_cron.config import CronConfig
from highway_triggers_cron.expression import DAY, HOUR, MINUTE, MONTH, WEEKDAY, parse
from highway_triggers_cron.timetable import Timetable, zone_named

NEW_YORK, BERLIN = "America/New_York", "Europe/Berlin"


def timetable(expression: str, zone: str) -> Timetable:
    return Timetable(parse(expression), zone_named(zone))


def local_fires(expression: str, zone: str, after: str, count: int) -> list[str]:
    """The next ``count`` fires after the local time ``after``, as local ISO times."""
    table = timetable(expression, zone)
    start = datetime.fromisoformat(after).replace(tzinfo=table.zone)
    return [table.local(slot).isoformat() for slot, _ in table.upcoming(start, count)]


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        (  # 02:30 does not exist: it fires once, at the first instant after the gap
            "30 2 * * *",
            NEW_YORK,
            "2025-03-08T12:00",
            ["2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"],
        ),
        (  # four missing times coalesce into that one fire
            "*/15 2 * * *",
            NEW_YORK,
            "2025-03-09T01:00",
            ["2025-03-09T03:00:00-04:00", "2025-03-10T02:00:00-04:00"],
        ),
        (  # and with a time that does exist at that instant
            "0,30 2-3 * * *",
            BERLIN,
            "2025-03-30T01:00",
            ["2025-03-30T03:00:00+02:00", "2025-03-30T03:30:00+02:00", "2025-03-31T02:00:00+02:00"],
        ),
        (
            "0 2 * * *",
            BERLIN,
            "2025-03-29T12:00",
            ["2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00"],
        ),
    ],
)
def test_spring_forward_a_missing_time_fires_once_at_the_next_valid_instant(
    expression: str, zone: str, after: str, expected: list[str]
) -> None:
    assert local_fires(expression, zone, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        (  # 01:30 happens twice: it fires at the first occurrence only
            "30 1 * * *",
            NEW_YORK,
            "2025-11-01T12:00",
            ["2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"],
        ),
        (
            "*/20 1 * * *",
            NEW_YORK,
            "2025-11-02T00:00",
            [
                "2025-11-02T01:00:00-04:00",
                "2025-11-02T01:20:00-04:00",
                "2025-11-02T01:40:00-04:00",
                "2025-11-03T01:00:00-05:00",
            ],
        ),
        (
            "30 2 * * *",
            BERLIN,
            "2025-10-25T12:00",
            ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"],
        ),
    ],
)
def test_fall_back_a_repeated_time_fires_once(
    expression: str, zone: str, after: str, expected: list[str]
) -> None:
    assert local_fires(expression, zone, after, len(expected)) == expected


def test_fall_back_from_inside_the_second_pass_does_not_fire_a_repeated_time() -> None:
    table = timetable("*/20 1 * * *", NEW_YORK)
    second_pass = datetime(2025, 11, 2, 6, 10, tzinfo=UTC)  # 01:10 EST, after 01:10 EDT
    assert table.local(second_pass).fold == 1
    assert table.local(table.next_after(second_pass)).isoformat() == "2025-11-03T01:00:00-05:00"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (  # clocks fall back: the pace goes on through both passes of 01:xx
            "2025-11-02T00:15",
            [
                "2025-11-02T00:30:00-04:00",
                "2025-11-02T01:00:00-04:00",
                "2025-11-02T01:30:00-04:00",
                "2025-11-02T01:00:00-05:00",
                "2025-11-02T01:30:00-05:00",
                "2025-11-02T02:00:00-05:00",
            ],
        ),
        (  # clocks spring forward: 02:xx does not exist, 30 minutes still pass between fires
            "2025-03-09T00:45",
            ["2025-03-09T01:00:00-05:00", "2025-03-09T01:30:00-05:00", "2025-03-09T03:00:00-04:00"],
        ),
    ],
)
def test_an_every_hour_expression_keeps_its_pace_in_real_time(
    after: str, expected: list[str]
) -> None:
    fires = local_fires("*/30 * * * *", NEW_YORK, after, len(expected))
    assert fires == expected
    instants = [datetime.fromisoformat(f) for f in fires]
    assert {b - a for a, b in pairwise(instants)} == {timedelta(minutes=30)}


@pytest.mark.parametrize(("day", "hours"), [(date(2025, 3, 9), 23), (date(2025, 11, 2), 25)])
def test_hourly_fires_once_per_real_hour_on_change_days(day: date, hours: int) -> None:
    table = timetable("@hourly", NEW_YORK)
    start = datetime.combine(day, datetime.min.time(), table.zone) - timedelta(microseconds=1)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), table.zone)
    fires = [slot for slot, _ in table.upcoming(start, 30) if slot < end]
    assert len(fires) == hours
    assert {b - a for a, b in pairwise(fires)} == {timedelta(hours=1)}


@pytest.mark.parametrize("zone", [NEW_YORK, BERLIN])
@pytest.mark.parametrize("expression", ["30 2 * * *", "30 1 * * *", "0 3 * * *"])
def test_a_daily_time_fires_exactly_once_every_local_day_of_the_year(
    zone: str, expression: str
) -> None:
    table = timetable(expression, zone)
    start = datetime(2025, 1, 1, tzinfo=table.zone) - timedelta(microseconds=1)
    fires = [slot for slot, _ in table.upcoming(start, 400) if slot.year == 2025]
    days = [table.local(slot).date() for slot in fires]
    assert len(days) == len(set(days)) == 365


def test_transitions_are_reported_between_fires() -> None:
    table = timetable("30 2 * * *", BERLIN)
    start = datetime(2025, 3, 29, tzinfo=table.zone)
    (_, before), (_, change), (_, after) = table.upcoming(start, 3)
    assert before is None and after is None
    assert change is not None and change.kind == "spring_forward"
    assert change.at == datetime(2025, 3, 30, 1, tzinfo=UTC)
    assert (change.offset_before, change.offset_after) == (timedelta(hours=1), timedelta(hours=2))


def test_last_between_finds_the_latest_fire_across_a_change() -> None:
    table = timetable("*/20 1 * * *", NEW_YORK)
    until = datetime(2025, 11, 2, 7, tzinfo=UTC)  # 02:00 EST
    last = table.last_between(datetime(2025, 10, 1, tzinfo=UTC), until)
    assert last is not None and table.local(last).isoformat() == "2025-11-02T01:40:00-04:00"
    assert table.last_between(until, until + timedelta(hours=1)) is None


def test_start_and_end_bound_the_fires() -> None:
    start_at, end_at = datetime(2025, 6, 1, 9, 30, tzinfo=UTC), datetime(2025, 6, 1, 12, tzinfo=UTC)
    table = Timetable(parse("0 * * * *"), zone_named("UTC"), start_at, end_at)
    fires = [slot.hour for slot, _ in table.upcoming(datetime(2025, 1, 1, tzinfo=UTC), 10)]
    assert fires == [10, 11, 12]


def test_jitter_is_fixed_per_trigger_and_within_bounds() -> None:
    config = CronConfig(cron_expression="0 9 * * *", timezone=BERLIN, jitter_seconds=30)
    offsets = {Slots.of(f"trigger-{n}", config).jitter for n in range(200)}
    assert Slots.of("trigger-1", config).jitter == Slots.of("trigger-1", config).jitter
    assert len(offsets) > 150 and all(timedelta(0) <= j < timedelta(seconds=30) for j in offsets)
    slots = Slots.of("trigger-1", config)
    slot = datetime(2025, 6, 2, 7, tzinfo=UTC)  # 09:00 CEST
    assert slots.first_after(slot - timedelta(hours=1)) == slot + slots.jitter
    assert slots.slot_of(slot + slots.jitter) == slot


# against a brute-force reading of the rule, minute by minute, around every change of 2025

ZONES = [NEW_YORK, BERLIN, "Australia/Lord_Howe", "America/St_Johns"]  # 30-minute shift; -03:30
EXPRESSIONS = [
    "30 2 * * *",
    "*/15 1-3 * * *",
    "0,30 * * * *",
    "*/7 * * * *",
    "45 0-2 * * SUN",
    "0 2 * * *",
]


@cache
def changes_of_2025(zone: str) -> list[datetime]:
    tz = zone_named(zone)
    hours = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(366 * 24)]
    return [
        b
        for a, b in pairwise(hours)
        if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset()
    ]


def matcher(expression: str) -> Callable[[datetime], bool]:
    """Whether a wall-clock time matches, read field by field (cron's day rule included)."""
    minute, hour, day, month, weekday = expression.lower().split()
    minutes, hours, months = MINUTE.expand(minute), HOUR.expand(hour), MONTH.expand(month)
    days, weekdays = DAY.expand(day), {d % 7 for d in WEEKDAY.expand(weekday)}
    either = not (day.startswith("*") or weekday.startswith("*"))

    def matches(wall: datetime) -> bool:
        on_day, on_weekday = wall.day in days, wall.isoweekday() % 7 in weekdays
        return (
            wall.minute in minutes
            and wall.hour in hours
            and wall.month in months
            and ((on_day or on_weekday) if either else (on_day and on_weekday))
        )

    return matches


def brute_force(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The rule read literally, minute by minute: a pace fires at every real minute whose
    wall time matches; a time of day at the first instant whose wall time is (or, when it
    does not exist, is past) each matching wall time."""
    tz, matches = zone_named(zone), matcher(expression)
    minutes = int((end - start).total_seconds() // 60)
    instants = [start + timedelta(minutes=m) for m in range(1, minutes + 1)]
    walls = [i.astimezone(tz).replace(tzinfo=None) for i in instants]
    if parse(expression).every_hour:
        return [i for i, w in zip(instants, walls, strict=True) if matches(w)]
    reached = list(accumulate(walls, max))  # the latest wall time seen by each instant
    span = int((reached[-1] - walls[0]).total_seconds() // 60) + 1
    every_wall = (walls[0] + timedelta(minutes=m) for m in range(span))
    return sorted({instants[bisect_left(reached, w)] for w in every_wall if matches(w)})


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_every_change_of_2025_agrees_with_a_brute_force_reading(zone: str, expression: str) -> None:
    table = timetable(expression, zone)
    for change in changes_of_2025(zone):
        start, end = change - timedelta(hours=26), change + timedelta(hours=24)
        fires = [slot for slot, _ in table.upcoming(start, 2000) if slot <= end]
        reference = brute_force(expression, zone, start, end)
        cut = start + timedelta(hours=6)  # the brute force sees no wall time before start
        assert [f for f in fires if f >= cut] == [r for r in reference if r >= cut], (zone, change)
