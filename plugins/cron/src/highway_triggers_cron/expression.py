"""Cron expressions: parsed and checked here, walked over wall-clock time by APScheduler.

An expression has 5 fields (minute hour day-of-month month day-of-week), or 6 with
seconds first, or is an alias such as ``@hourly``. A field is ``*``, a value, a name
(``JAN``, ``MON``), a range (``MON-FRI``), a step (``*/5``, ``10-40/10``, ``5/15``) or a
list of those. As in cron, day-of-week counts from Sunday (0 or 7), and when neither
day field starts with ``*`` a day matching either of them matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from apscheduler.triggers.cron import CronTrigger

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_PART = re.compile(r"(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?")
_AFTER = timedelta(microseconds=1)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 0
    sunday_ends_ranges: bool = False
    """Day-of-week: ``FRI-SUN`` runs to Sunday as 7."""

    def expand(self, text: str) -> frozenset[int]:
        """The values ``text`` selects; ValueError naming this field if it is malformed."""
        values: set[int] = set()
        for part in text.split(","):
            match = _PART.fullmatch(part)
            if match is None:
                raise ValueError(f"{self.name} field: {part!r} is not a value, range, list or step")
            star, first, last, step = match.groups()
            low = self.low if star else self._value(first)
            if star or (step and not last):
                high = self.high
            else:
                high = self._value(last or first)
                if last and high == 0 and self.sunday_ends_ranges:
                    high = 7
            stride = int(step) if step else 1
            if stride == 0 or low > high:
                raise ValueError(f"{self.name} field: {part!r} selects nothing")
            values.update(range(low, high + 1, stride))
        return frozenset(values)

    def spec(self, text: str) -> str:
        """``text`` as APScheduler reads it: ``*`` or the explicit list of values."""
        values = self.expand(text)
        full = len(values) == self.high - self.low + 1
        return "*" if full else ",".join(str(v) for v in sorted(values))

    def _value(self, token: str) -> int:
        if token.isdigit():
            value = int(token)
        elif token in self.names:
            value = self.names.index(token) + self.first_name
        else:
            raise ValueError(f"{self.name} field: {token!r} is not a number or a name")
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} field: {value} is outside {self.low}-{self.high}")
        return value


SECOND = _Field("second", 0, 59)
MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, MONTHS, first_name=1)
WEEKDAY = _Field("day-of-week", 0, 7, WEEKDAYS, sunday_ends_ranges=True)


@dataclass(frozen=True)
class Expression:
    """A valid cron expression; :meth:`next_wall_time` walks the wall-clock times it names."""

    text: str
    every_hour: bool
    """The hour field selects all 24 hours: the expression is a pace, not a time of day."""
    _triggers: tuple[CronTrigger, ...]

    def next_wall_time(self, after: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first wall-clock time (naive) named after ``after`` (naive), or at it if ``inclusive``."""
        start = after.replace(tzinfo=UTC) + (timedelta(0) if inclusive else _AFTER)
        found = [t.get_next_fire_time(None, start) for t in self._triggers]
        times = [f for f in found if f is not None]
        return min(times).replace(tzinfo=None) if times else None


@lru_cache(maxsize=4096)
def parse(text: str) -> Expression:
    """Parse ``text``; ValueError saying what is wrong. Equal texts share one result."""
    normal = text.strip().lower()
    if normal.startswith("@") and normal not in ALIASES:
        raise ValueError(f"unknown alias {text.strip()!r} (known: {', '.join(ALIASES)})")
    fields = ALIASES.get(normal, normal).split()
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6:
        raise ValueError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
    second, minute, hour, day, month, weekday = fields
    common = {
        "second": SECOND.spec(second),
        "minute": MINUTE.spec(minute),
        "hour": HOUR.spec(hour),
        "month": MONTH.spec(month),
        "timezone": UTC,
    }
    days = DAY.spec(day)
    days_of_week = sorted({d % 7 for d in WEEKDAY.expand(weekday)})  # 0 and 7: Sunday
    # by name: APScheduler 3 counts weekday numbers from Monday
    named_days = "*" if len(days_of_week) == 7 else ",".join(WEEKDAYS[d] for d in days_of_week)
    triggers: tuple[CronTrigger, ...]
    if day.startswith("*") or weekday.startswith("*"):
        triggers = (CronTrigger(day=days, day_of_week=named_days, **common),)
    else:
        triggers = (
            CronTrigger(day=days, day_of_week="*", **common),
            CronTrigger(day="*", day_of_week=named_days, **common),
        )
    expression = Expression(text, common["hour"] == "*", triggers)
    if expression.next_wall_time(datetime(2000, 1, 1)) is None:
        raise ValueError("the expression names no date that exists (such as 30 February)")
    return expression
