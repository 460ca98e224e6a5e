"""Cron expressions: the syntax accepted, cron's day rules, and errors that say what is wrong."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from highway_triggers_cron.expression import parse
from highway_triggers_cron.timetable import Timetable, zone_named

START = datetime(2025, 1, 1, tzinfo=UTC)  # a Wednesday


def fires(expression: str, count: int = 5, after: datetime = START) -> list[str]:
    """The next fires in UTC, as ``Mon 2025-01-06 09:00:00``."""
    timetable = Timetable(parse(expression), zone_named("UTC"))
    return [slot.strftime("%a %Y-%m-%d %H:%M:%S") for slot, _ in timetable.upcoming(after, count)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "*/20 * * * *",
            ["Wed 2025-01-01 00:20:00", "Wed 2025-01-01 00:40:00", "Wed 2025-01-01 01:00:00"],
        ),
        (
            "15,45 9-10 * * *",
            ["Wed 2025-01-01 09:15:00", "Wed 2025-01-01 09:45:00", "Wed 2025-01-01 10:15:00"],
        ),
        (
            "0 9 * * MON-FRI",
            [
                "Wed 2025-01-01 09:00:00",
                "Thu 2025-01-02 09:00:00",
                "Fri 2025-01-03 09:00:00",
                "Mon 2025-01-06 09:00:00",
            ],
        ),
        (
            "0 9 * * 1-5",
            [
                "Wed 2025-01-01 09:00:00",
                "Thu 2025-01-02 09:00:00",
                "Fri 2025-01-03 09:00:00",
                "Mon 2025-01-06 09:00:00",
            ],
        ),
        (
            "0 0 * * 0",
            ["Sun 2025-01-05 00:00:00", "Sun 2025-01-12 00:00:00", "Sun 2025-01-19 00:00:00"],
        ),
        (
            "0 0 * * 7",
            ["Sun 2025-01-05 00:00:00", "Sun 2025-01-12 00:00:00", "Sun 2025-01-19 00:00:00"],
        ),
        (
            "0 0 * * FRI-SUN",
            ["Fri 2025-01-03 00:00:00", "Sat 2025-01-04 00:00:00", "Sun 2025-01-05 00:00:00"],
        ),
        (
            "0 0 * * */2",
            ["Thu 2025-01-02 00:00:00", "Sat 2025-01-04 00:00:00", "Sun 2025-01-05 00:00:00"],
        ),
        (
            "0 12 1 JAN-MAR/2 *",
            ["Wed 2025-01-01 12:00:00", "Sat 2025-03-01 12:00:00", "Thu 2026-01-01 12:00:00"],
        ),
        (
            "10-40/15 3 * * *",
            ["Wed 2025-01-01 03:10:00", "Wed 2025-01-01 03:25:00", "Wed 2025-01-01 03:40:00"],
        ),
        (
            "5/20 3 * * *",
            ["Wed 2025-01-01 03:05:00", "Wed 2025-01-01 03:25:00", "Wed 2025-01-01 03:45:00"],
        ),
        (
            "*/15 * * * * *",
            ["Wed 2025-01-01 00:00:15", "Wed 2025-01-01 00:00:30", "Wed 2025-01-01 00:00:45"],
        ),
        (
            "30 0 12 * * *",
            ["Wed 2025-01-01 12:00:30", "Thu 2025-01-02 12:00:30", "Fri 2025-01-03 12:00:30"],
        ),
        (
            "@hourly",
            ["Wed 2025-01-01 01:00:00", "Wed 2025-01-01 02:00:00", "Wed 2025-01-01 03:00:00"],
        ),
        (
            "@daily",
            ["Thu 2025-01-02 00:00:00", "Fri 2025-01-03 00:00:00", "Sat 2025-01-04 00:00:00"],
        ),
        (
            "@weekly",
            ["Sun 2025-01-05 00:00:00", "Sun 2025-01-12 00:00:00", "Sun 2025-01-19 00:00:00"],
        ),
        (
            "@monthly",
            ["Sat 2025-02-01 00:00:00", "Sat 2025-03-01 00:00:00", "Tue 2025-04-01 00:00:00"],
        ),
        (
            "@YEARLY",
            ["Thu 2026-01-01 00:00:00", "Fri 2027-01-01 00:00:00", "Sat 2028-01-01 00:00:00"],
        ),
        (
            "0 0 29 2 *",
            ["Tue 2028-02-29 00:00:00", "Sun 2032-02-29 00:00:00", "Fri 2036-02-29 00:00:00"],
        ),
    ],
)
def test_syntax(expression: str, expected: list[str]) -> None:
    assert fires(expression, len(expected)) == expected


def test_both_day_fields_restricted_match_either_as_in_cron() -> None:
    assert fires("0 0 13 * FRI", 4) == [
        "Fri 2025-01-03 00:00:00",
        "Fri 2025-01-10 00:00:00",
        "Mon 2025-01-13 00:00:00",
        "Fri 2025-01-17 00:00:00",
    ]
    # a day field starting with * does not count as restricted: both must match
    assert fires("0 0 */2 * FRI", 2) == ["Fri 2025-01-03 00:00:00", "Fri 2025-01-17 00:00:00"]


def test_every_hour_is_read_from_the_hour_field() -> None:
    assert parse("*/5 * * * *").every_hour
    assert parse("0 0-23 * * *").every_hour
    assert not parse("0 */2 * * *").every_hour
    assert not parse("@daily").every_hour


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 5 fields (or 6 with seconds first), got 4"),
        ("* * * * * * *", "got 7"),
        ("61 * * * *", "minute field: 61 is outside 0-59"),
        ("* 24 * * *", "hour field: 24 is outside 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is outside 1-31"),
        ("* * * 13 *", "month field: 13 is outside 1-12"),
        ("* * * * 8", "day-of-week field: 8 is outside 0-7"),
        ("* * * * MON-FUN", "day-of-week field: 'fun' is not a number or a name"),
        ("*/0 * * * *", "minute field: '*/0' selects nothing"),
        ("30-10 * * * *", "minute field: '30-10' selects nothing"),
        ("1,,2 * * * *", "minute field: '' is not a value, range, list or step"),
        ("0 0 L * *", "day-of-month field: 'l' is not a number or a name"),
        ("0 0 30 2 *", "names no date that exists"),
        ("@reboot", "unknown alias '@reboot'"),
        ("", "expected 5 fields"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(expression)
