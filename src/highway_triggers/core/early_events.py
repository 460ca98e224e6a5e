"""Early events are not lost: the outbox writer keeps an event that found no wait for a
lookback window (``HIGHWAY_EARLY_EVENT_LOOKBACK_SECONDS``), and a wait registered inside
it is resumed at once, here."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.outbox import (
    DISPATCHES,
    EARLY_EVENTS,
    DispatchJob,
    check_payload,
    dispatch_rows,
    resume_job,
)


def resume_with_kept(conn: Connection, wait: dict[str, Any], now: datetime) -> int:
    """Resume a just-registered wait with the events kept for it; how many were used.

    A single-use wait takes the oldest kept event its schema accepts; a multi-use wait
    takes them all, in arrival order. The resumes are written as pending dispatches.
    """
    kept = conn.execute(
        select(EARLY_EVENTS.c.id, EARLY_EVENTS.c.event_id, EARLY_EVENTS.c.payload)
        .where(
            EARLY_EVENTS.c.tenant_id == wait["tenant_id"],
            EARLY_EVENTS.c.event_name == wait["event_name"],
            EARLY_EVENTS.c.correlation_key == wait["correlation_key"],
            EARLY_EVENTS.c.consumed_at.is_(None),
            EARLY_EVENTS.c.expires_at > now,
        )
        .order_by(EARLY_EVENTS.c.received_at)
    ).all()
    jobs: list[DispatchJob] = []
    for event in kept:
        if wait["payload_schema"] is not None:
            try:
                check_payload(wait["id"], wait["payload_schema"], event.payload)
            except HTTPError:
                continue
        taken = conn.execute(
            update(EARLY_EVENTS)
            .where(EARLY_EVENTS.c.id == event.id, EARLY_EVENTS.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        if taken.rowcount != 1:
            continue
        key = (
            f"resume:{wait['id']}:{event.event_id}" if wait["multi_use"] else f"resume:{wait['id']}"
        )
        jobs.append(
            resume_job(
                SimpleNamespace(**wait),
                trigger_type="EVENT",
                event_id=event.event_id,
                payload=event.payload,
                idempotency_key=key,
            )
        )
        if not wait["multi_use"]:
            break
    if jobs:
        conn.execute(insert(DISPATCHES), dispatch_rows(jobs, now, leased_until=None))
    return len(jobs)
