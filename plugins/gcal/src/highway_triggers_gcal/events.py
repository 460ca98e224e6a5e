"""What a Calendar event is to a trigger: its change, its trigger data, its start."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CREATED_WITHIN = timedelta(seconds=1)
"""An event whose ``updated`` is this close to its ``created`` is new (Google stamps both
when it creates one)."""
MAX_KEY_CHARS = 200


def change_of(item: dict[str, Any]) -> str:
    """``cancelled``, ``created`` or ``updated``."""
    if item.get("status") == "cancelled":
        return "cancelled"
    created, updated = timestamp(item.get("created")), timestamp(item.get("updated"))
    if created is not None and updated is not None and updated - created < CREATED_WITHIN:
        return "created"
    return "updated"


def trigger_data(calendar_id: str, change: str, item: dict[str, Any]) -> dict[str, Any]:
    """The trigger data of a change (see the README)."""
    return {
        "calendar_id": calendar_id,
        "event_id": item["id"],
        "change": change,
        "summary": item.get("summary"),
        "start": item.get("start"),
        "end": item.get("end"),
        "organizer": item.get("organizer"),
        "attendees": item.get("attendees") or [],
        "html_link": item.get("htmlLink"),
        "event": item,
    }


def key(*parts: str) -> str:
    """An idempotency key of ``parts`` (hashed when long: event ids may be)."""
    joined = ":".join(parts)
    if len(joined) <= MAX_KEY_CHARS and joined.isprintable():
        return joined
    return f"{parts[0]}:sha256:{hashlib.sha256(joined.encode()).hexdigest()}"


def timestamp(value: Any) -> datetime | None:
    """An RFC 3339 time as an aware UTC datetime, ``None`` when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo is not None else None


def start_of(item: dict[str, Any], calendar_zone: str | None) -> datetime | None:
    """When an event (one occurrence) starts, in UTC: its ``start.dateTime``, read in its
    ``start.timeZone`` (else the calendar's) when it has no offset; an all-day event's
    ``start.date`` at midnight in that zone."""
    start = item.get("start")
    if not isinstance(start, dict):
        return None
    zone = _zone(start.get("timeZone")) or _zone(calendar_zone) or UTC
    if isinstance(moment := start.get("dateTime"), str):
        try:
            found = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (found if found.tzinfo else found.replace(tzinfo=zone)).astimezone(UTC)
    if isinstance(day := start.get("date"), str):
        try:
            midnight = datetime.combine(datetime.fromisoformat(day).date(), time(), zone)
        except ValueError:
            return None
        return midnight.astimezone(UTC)
    return None


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
