"""Early events are not lost: an injected event that found no wait is kept for a
lookback window (``HIGHWAY_EARLY_EVENT_LOOKBACK_SECONDS``), and a wait registered inside
it is resumed with it at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from highway_triggers.core.dispatches import DispatchJob, insert_jobs, resume_job
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.ids import new_id
from highway_triggers.core.waits.phase0 import check_payload
from highway_triggers.db.tables import EARLY_EVENTS

KEPT_EVENT_TYPE = "EVENT"


def keep(
    conn: Connection,
    *,
    tenant_id: str | None,
    event_name: str,
    correlation_keys: tuple[str, ...],
    event_id: str,
    payload: dict[str, Any],
    now: datetime,
    lookback: timedelta,
) -> None:
    """Keep an event that no wait took, once per correlation key."""
    conn.execute(
        insert(EARLY_EVENTS),
        [
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "event_name": event_name,
                "correlation_key": key,
                "event_id": event_id,
                "payload": payload,
                "received_at": now,
                "expires_at": now + lookback,
                "consumed_at": None,
            }
            for key in correlation_keys
        ],
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
                trigger_type=KEPT_EVENT_TYPE,
                event_id=event.event_id,
                payload=event.payload,
                idempotency_key=key,
            )
        )
        if not wait["multi_use"]:
            break
    insert_jobs(conn, jobs, now, leased_until=None)
    return len(jobs)


def delete_expired(conn: Connection, now: datetime, limit: int) -> int:
    """Forget at most ``limit`` kept events past their window; how many went."""
    expired = select(EARLY_EVENTS.c.id).where(EARLY_EVENTS.c.expires_at < now).limit(limit)
    deleted = conn.execute(EARLY_EVENTS.delete().where(EARLY_EVENTS.c.id.in_(expired))).rowcount
    return int(deleted)
