"""When a schedule fires: its expression's wall-clock times as instants in its time zone.

The DST rule (see the README):

- A wall-clock time that does not exist (clocks spring forward) fires once, at the
  first instant after the gap; several such times coalesce into that one fire.
- A wall-clock time that happens twice (clocks fall back) fires once, at its first
  occurrence.
- An expression whose hour field is ``*`` names a pace, not a time of day (every
  minute, every 5 minutes, hourly): it keeps that pace in real time through a change,
  firing in both passes of a repeated hour and not at all in a skipped one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from highway_triggers_cron.expression import Expression

_SECOND = timedelta(seconds=1)
_AFTER = timedelta(microseconds=1)
_YEAR = timedelta(days=366)
_PROBE = timedelta(days=7)
"""Offset changes are looked for this far apart (they are months apart in practice)."""
_MAX_STEPS = 64
_MEMO_SIZE = 1024


def iso_utc(instant: datetime) -> str:
    """``2025-03-09T07:00:00Z``."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


HOST_ZONES = frozenset({"localtime", "posixrules"})
"""Names that the host's zoneinfo files point at one of its zones: replicas on hosts set
up differently would read them as different zones, and fire at different times."""


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError if there is none, or if it names the host's."""
    if name in HOST_ZONES:
        raise ValueError(
            f"time zone {name!r} is the host's, which replicas may not share: use an IANA "
            "name such as Europe/Berlin"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from None


@dataclass(frozen=True)
class Transition:
    """A change of the zone's UTC offset: a DST change, or the zone moving."""

    at: datetime
    offset_before: timedelta
    offset_after: timedelta

    @property
    def kind(self) -> str:
        return "spring_forward" if self.offset_after > self.offset_before else "fall_back"


@dataclass(frozen=True)
class Timetable:
    """The fire instants (UTC) of an expression in a zone, between ``start_at`` and ``end_at``."""

    expression: Expression
    zone: ZoneInfo
    start_at: datetime | None = None
    end_at: datetime | None = None
    _memo: dict[datetime, datetime | None] = field(default_factory=dict, compare=False, repr=False)
    """Recent answers: schedules sharing a timetable ask for the same slots."""

    def next_after(self, instant: datetime) -> datetime | None:
        """The first fire (in UTC) strictly after ``instant``; ``None`` when there is none."""
        instant = instant.astimezone(UTC)
        if instant in self._memo:
            return self._memo[instant]
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        slot = self._next(max(instant, self.start_at - _AFTER) if self.start_at else instant)
        if slot is not None and self.end_at is not None and slot > self.end_at:
            slot = None
        self._memo[instant] = slot
        return slot

    def last_between(self, after: datetime, until: datetime) -> datetime | None:
        """The last fire in ``(after, until]``, found in a logarithmic number of steps."""
        until = until.astimezone(UTC)
        first = self.next_after(after)
        if first is None or first > until:
            return None
        near, far = timedelta(0), _SECOND  # no fire in (until - near, until]
        while (found := self.next_after(until - far)) is None or found > until:
            near, far = far, far * 2
        while far - near > _SECOND:  # one fire in (until - far, until - near]
            middle = near + (far - near) / 2
            found = self.next_after(until - middle)
            if found is not None and found <= until:
                far = middle
            else:
                near = middle
        return self.next_after(until - far)

    def count_between(self, after: datetime, until: datetime, limit: int) -> int:
        """How many fires ``(after, until]`` holds, counted up to ``limit``."""
        count, slot = 0, self.next_after(after)
        while slot is not None and slot <= until and count < limit:
            count += 1
            slot = self.next_after(slot)
        return count

    def upcoming(self, after: datetime, count: int) -> list[tuple[datetime, Transition | None]]:
        """The next ``count`` fires, each with the offset change since the fire before it
        (``None`` when both had the same UTC offset)."""
        after = after.astimezone(UTC)
        fires: list[tuple[datetime, Transition | None]] = []
        previous = self.last_between(after - _YEAR, after) or after
        while len(fires) < count and (slot := self.next_after(max(previous, after))) is not None:
            fires.append((slot, self.transition_between(previous, slot)))
            previous = slot
        return fires

    def transition_between(self, start: datetime, end: datetime) -> Transition | None:
        """The last offset change in ``(start, end]``, if the offsets at both ends differ."""
        before, after = self._offset(start), self._offset(end)
        if before == after:
            return None
        at = start.astimezone(UTC)
        while (change := self._change(at, end)) is not None:
            at = change
        return Transition(at, before, after)

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def _next(self, after: datetime) -> datetime | None:
        pace = self.expression.every_hour
        at, inclusive = after, False
        floor = None if pace else self._end_of_repeat(after)
        for _ in range(_MAX_STEPS):
            offset = self._offset(at)
            base = _naive(at + offset)
            if floor is not None and floor > base:
                base, inclusive = floor, True
            wall = self.expression.next_wall_time(base, inclusive=inclusive)
            if wall is None:
                return None
            candidate = wall.replace(tzinfo=UTC) - offset
            change = self._change(at, candidate)
            if change is None:
                return candidate
            offset_after = self._offset(change)
            if offset_after > offset:
                # spring forward: wall times before change + offset_after do not exist
                if not pace and wall < _naive(change + offset_after):
                    return change
                floor = None
            else:
                # fall back: wall times from change + offset_after to change + offset come again
                floor = None if pace else _naive(change + offset)
            at, inclusive = change, True
        raise RuntimeError(f"no fire found for {self.expression.text!r} after {after}")

    def _end_of_repeat(self, instant: datetime) -> datetime | None:
        """The wall time at which a repeated hour ends, when ``instant`` is in its second pass."""
        local = self.local(instant)
        if not local.fold:
            return None
        first_offset = local.replace(fold=0).utcoffset()
        assert first_offset is not None
        change = self._change(instant - (first_offset - self._offset(instant)), instant)
        return None if change is None else _naive(change + first_offset)

    def _change(self, start: datetime, end: datetime) -> datetime | None:
        """The first instant in ``(start, end]`` whose offset differs from ``start``'s."""
        offset = self._offset(start)
        probe = start
        while probe < end:
            ahead = min(probe + _PROBE, end)
            if self._offset(ahead) != offset:
                return self._bisect(probe, ahead, offset)
            probe = ahead
        return None

    def _bisect(self, before: datetime, after: datetime, offset: timedelta) -> datetime:
        """Offsets change on whole seconds: narrow ``(before, after]`` down to that second."""
        low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(datetime.fromtimestamp(middle, UTC)) == offset:
                low = middle
            else:
                high = middle
        return datetime.fromtimestamp(high, UTC)

    def _offset(self, instant: datetime) -> timedelta:
        offset = instant.astimezone(self.zone).utcoffset()
        assert offset is not None
        return offset


def _naive(instant: datetime) -> datetime:
    return instant.replace(tzinfo=None)
