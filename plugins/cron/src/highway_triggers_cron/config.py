"""A schedule's config: what ``CRON`` triggers accept, checked at deploy time."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from highway_triggers import TriggerConfig
from highway_triggers_cron.expression import parse
from highway_triggers_cron.settings import MAX_CATCHUP_WINDOW_SECONDS, CronSettings
from highway_triggers_cron.timetable import Timetable, zone_named

MAX_JITTER_SECONDS = 30


def _default_timezone() -> str:
    return CronSettings().timezone


class CronConfig(TriggerConfig):
    """When a schedule fires; stored with its zone resolved, so every replica agrees."""

    cron_expression: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default_factory=_default_timezone)
    enabled: bool = True
    note: str | None = Field(default=None, max_length=1000)
    """Why the schedule is paused (set by ``/pause``)."""
    paused_at: AwareDatetime | None = None
    """Since when (set by ``/pause``; slots after it count as skipped when it resumes)."""
    jitter_seconds: float = Field(default=0, ge=0, le=MAX_JITTER_SECONDS)
    catchup_window_seconds: int = Field(default=300, ge=0, le=MAX_CATCHUP_WINDOW_SECONDS)
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None

    @field_validator("cron_expression")
    @classmethod
    def _valid_expression(cls, text: str) -> str:
        parse(text.strip())
        return text.strip()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_named(name)
        return name

    @field_validator("end_at")
    @classmethod
    def _ends_after_start(cls, end_at: datetime | None, info: ValidationInfo) -> datetime | None:
        start_at = info.data.get("start_at")
        if end_at is not None and start_at is not None and end_at <= start_at:
            raise ValueError("must be later than start_at")
        return end_at

    @property
    def timetable(self) -> Timetable:
        return _timetable(self.cron_expression, self.timezone, self.start_at, self.end_at)

    @property
    def catchup_window(self) -> timedelta:
        return timedelta(seconds=self.catchup_window_seconds)


@lru_cache(maxsize=4096)
def _timetable(
    expression: str, zone: str, start_at: datetime | None, end_at: datetime | None
) -> Timetable:
    return Timetable(parse(expression), zone_named(zone), start_at, end_at)
