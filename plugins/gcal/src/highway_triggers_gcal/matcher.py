"""Phase 2: whether a GOOGLE_CALENDAR trigger takes a change, and if not, why (pure)."""

from __future__ import annotations

from typing import Any

from highway_triggers_gcal.config import GcalConfig


def mismatch(config: GcalConfig, data: dict[str, Any]) -> str | None:
    """Why ``config`` does not take the change whose trigger data is ``data``; ``None``
    when it does."""
    change = data.get("change")
    if change not in config.events:
        return f"change {change!r} is not in events {list(config.events)!r}"
    summary = data.get("summary") or ""
    if config.summary_pattern is not None and not config.summary_pattern.search(summary):
        return f"summary {summary[:200]!r} does not match {config.summary_pattern.pattern!r}"
    if config.organizer is not None:
        organizer = (data.get("organizer") or {}).get("email")
        if not isinstance(organizer, str) or organizer.lower() != config.organizer.lower():
            return f"organizer {organizer!r} is not {config.organizer!r}"
    if config.attendee is not None:
        emails = [a.get("email") for a in data.get("attendees") or [] if isinstance(a, dict)]
        wanted = config.attendee.lower()
        if not any(isinstance(e, str) and e.lower() == wanted for e in emails):
            return f"{config.attendee!r} is not among the attendees"
    return None
