"""How schedules look in the API: a schedule with its next and last run, and a preview."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from highway_triggers_cron.aps import Slots, jitter_key
from highway_triggers_cron.config import CronConfig
from highway_triggers_cron.timetable import Transition, iso_utc


class Schedule(BaseModel):
    """A schedule as the API shows it (for ``/openapi.json``): its target, its config's
    fields, and when it fires next and fired last."""

    model_config = ConfigDict(extra="allow")

    schedule_id: str
    workflow_id: str
    template: str | None
    tenant_id: str | None
    cron_expression: str
    timezone: str
    enabled: bool
    paused: bool
    jitter_offset_seconds: float
    next_run_at: str | None
    last_run_at: str | None
    last_fired_at: str | None
    created_at: str


class Schedules(BaseModel):
    schedules: list[Schedule]
    count: int


class OffsetChange(BaseModel):
    kind: str
    at: str
    offset_before: str
    offset_after: str


class Fire(BaseModel):
    at: str
    local: str
    dst: bool
    transition: OffsetChange | None


class Preview(BaseModel):
    """The next fires in the schedule's zone."""

    schedule_id: str
    cron_expression: str
    timezone: str
    paused: bool
    fires: list[Fire]


def schedule_view(
    trigger: dict[str, Any], last: tuple[datetime, datetime] | None, now: datetime
) -> dict[str, Any]:
    """A CRON trigger (as the deployment service lists it) as a schedule; ``last`` is the
    slot and claim time of its latest fire."""
    config = CronConfig.model_validate(trigger["config"])
    slots = Slots.of(jitter_key(trigger["tenant_id"], trigger["workflow_id"], config), config)
    upcoming = config.timetable.next_after(now - slots.jitter) if config.enabled else None
    return {
        "schedule_id": trigger["trigger_id"],
        "workflow_id": trigger["workflow_id"],
        "template": trigger["template"],
        "tenant_id": trigger["tenant_id"],
        **trigger["config"],
        "paused": not config.enabled,
        "jitter_offset_seconds": round(slots.jitter.total_seconds(), 3),
        "next_run_at": None if upcoming is None else iso_utc(upcoming),
        "last_run_at": None if last is None else iso_utc(last[0]),
        "last_fired_at": None if last is None else iso_utc(last[1]),
        "created_at": trigger["created_at"],
    }


def preview_view(trigger: dict[str, Any], now: datetime, count: int) -> dict[str, Any]:
    """The next ``count`` fires in the schedule's zone, each marked with the UTC offset
    change since the fire before it."""
    config = CronConfig.model_validate(trigger["config"])
    return {
        "schedule_id": trigger["trigger_id"],
        "cron_expression": config.cron_expression,
        "timezone": config.timezone,
        "paused": not config.enabled,
        "fires": [
            _fire(config, at, transition)
            for at, transition in config.timetable.upcoming(now, count)
        ],
    }


def _fire(config: CronConfig, at: datetime, transition: Transition | None) -> dict[str, Any]:
    local = config.timetable.local(at)
    return {
        "at": iso_utc(at),
        "local": local.isoformat(),
        "dst": bool(local.dst()),
        "transition": None
        if transition is None
        else {
            "kind": transition.kind,
            "at": iso_utc(transition.at),
            "offset_before": _offset(transition.offset_before),
            "offset_after": _offset(transition.offset_after),
        },
    }


def _offset(offset: timedelta) -> str:
    """``+05:30``, ``-04:00``."""
    hours, minutes = divmod(int(abs(offset).total_seconds()) // 60, 60)
    return f"{'-' if offset < timedelta(0) else '+'}{hours:02d}:{minutes:02d}"
