"""The ``dispatches`` table (the outbox): its rows as jobs, and every statement on it —
insert, outcome, claim, retry, list. Nothing else writes or reads the table.

Rows the ingress writer inserts on the hot path use plain driver SQL
(:class:`DispatchSQL`); everything else here uses SQLAlchemy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Text, and_, cast, func, insert, or_, select, update

from highway_triggers.core.ids import new_id
from highway_triggers.db.columns import utcnow
from highway_triggers.db.driver import DriverSQL
from highway_triggers.db.tables import (
    DELIVERING,
    DISPATCHES,
    FAILED,
    PENDING,
    RETRYABLE,
)

if TYPE_CHECKING:
    from highway_triggers.core.trigger import BaseTrigger
    from highway_triggers.db.database import Database
from highway_triggers.db.pruning import delete_oldest

D = DISPATCHES
COLUMNS = (
    "id", "kind", "mode", "workflow_id", "execution_id", "trigger_id", "wait_id", "tenant_id",
    "trigger_type", "event_id", "payload", "idempotency_key", "status", "attempts",
    "next_attempt_at", "locked_until", "created_at", "updated_at", "traceparent",
    "event_name", "correlation_key",
)  # fmt: skip


@dataclass(slots=True)
class DispatchJob:
    """One start or resume to deliver: a dispatch row as the dispatcher needs it."""

    id: str
    kind: str
    mode: str
    workflow_id: str | None
    execution_id: str | None
    trigger_id: str | None
    wait_id: str | None
    tenant_id: str | None
    trigger_type: str
    event_id: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int = 1
    next_attempt_at: datetime | None = None
    traceparent: str | None = None
    """The W3C ``traceparent`` of the span that wrote the row (tracing on): the engine
    call continues that trace."""
    event_name: str | None = None
    """A resume of a wait: the wait's event name (the engine's wait point may need it)."""
    correlation_key: str | None = None
    """A resume of a wait: the wait's correlation key, if it has one."""

    @classmethod
    def from_row(cls, row: Any) -> DispatchJob:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})


def start_job(
    trigger: BaseTrigger, *, trigger_type: str, event_id: str, payload: dict[str, Any], key: str
) -> DispatchJob:
    """A start of ``trigger``'s workflow; ``key`` (a delivery id or the event id) makes the
    idempotency key."""
    return DispatchJob(
        id=new_id(),
        kind="start",
        mode=trigger.on_fire,
        workflow_id=trigger.workflow_id,
        execution_id=None,
        trigger_id=trigger.id,
        wait_id=None,
        tenant_id=trigger.tenant_id,
        trigger_type=trigger_type,
        event_id=event_id,
        payload=payload,
        idempotency_key=f"start:{trigger.id}:{key}",
    )


def resume_job(
    wait: Any, *, trigger_type: str, event_id: str, payload: dict[str, Any], idempotency_key: str
) -> DispatchJob:
    """A resume of ``wait`` (a row with id, tenant_id, workflow_id, workflow_run_id,
    event_name and correlation_key)."""
    return DispatchJob(
        id=new_id(),
        kind="resume",
        mode="resume",
        workflow_id=wait.workflow_id,
        execution_id=wait.workflow_run_id,
        trigger_id=None,
        wait_id=wait.id,
        tenant_id=wait.tenant_id,
        trigger_type=trigger_type,
        event_id=event_id,
        payload=payload,
        idempotency_key=idempotency_key,
        event_name=wait.event_name,
        correlation_key=wait.correlation_key,
    )


class DispatchSQL(DriverSQL):
    """The hot path's statements on the table: insert leased rows, record outcomes."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        mark = self.mark
        values = ", ".join(self.json_mark if c == "payload" else mark for c in COLUMNS)
        self.insert = f"INSERT INTO dispatches ({', '.join(COLUMNS)}) VALUES ({values})"
        self.record_outcome = (
            f"UPDATE dispatches SET status = {mark}, execution_id = {mark}, last_error = {mark}, "
            f"next_attempt_at = {mark}, delivered_at = {mark}, locked_until = NULL, updated_at = {mark} "
            f"WHERE id = {mark} AND status = '{DELIVERING}' AND attempts = {mark}"
        )

    def insert_params(self, job: DispatchJob, stamp: Any, lease: Any) -> tuple[Any, ...]:
        """:attr:`insert` parameters of a row leased to this replica until ``lease``."""
        return (
            job.id, job.kind, job.mode, job.workflow_id, job.execution_id, job.trigger_id,
            job.wait_id, job.tenant_id, job.trigger_type, job.event_id, self.json(job.payload),
            job.idempotency_key, DELIVERING, job.attempts, stamp, lease, stamp, stamp,
            job.traceparent, job.event_name, job.correlation_key,
        )  # fmt: skip


def insert_jobs(
    conn: Connection, jobs: list[DispatchJob], now: datetime, *, leased_until: datetime | None
) -> None:
    """Insert ``jobs`` off the hot path: leased to this replica, or pending for any."""
    if not jobs:
        return
    status = PENDING if leased_until is None else DELIVERING
    rows = [
        {
            **asdict(job),
            "attempts": job.attempts if leased_until is not None else 0,
            "status": status,
            "next_attempt_at": now,
            "locked_until": leased_until,
            "created_at": now,
            "updated_at": now,
        }
        for job in jobs
    ]
    conn.execute(insert(D), rows)


def delete_finished(conn: Connection, cutoffs: dict[str, datetime], limit: int) -> int:
    """Delete up to ``limit`` dispatches of each status in ``cutoffs`` (delivered, skipped,
    dead) whose last attempt came before its cutoff; how many went. The due index
    (status, next_attempt_at) finds them: a finished row's ``next_attempt_at`` is the time
    of its last attempt."""
    return sum(
        delete_oldest(
            conn,
            D.c.id,
            D.c.status == status,
            D.c.next_attempt_at < cutoff,
            order_by=D.c.next_attempt_at,
            limit=limit,
        )
        for status, cutoff in cutoffs.items()
    )


def claim_due(db: Database, limit: int, lease: timedelta) -> list[DispatchJob]:
    """Lease up to ``limit`` due rows to this replica: retries whose time has come, rows
    whose lease expired (their replica died mid-delivery), rows retried by hand.

    The rows are picked in a materialised CTE, which PostgreSQL runs once: a subquery
    (``IN (… LIMIT n FOR UPDATE SKIP LOCKED)``) may run again for every row of the update,
    each run skipping the rows updated so far, and claim far more than ``limit``."""
    now = utcnow()
    due = or_(
        and_(D.c.status.in_((PENDING, FAILED)), D.c.next_attempt_at <= now),
        and_(D.c.status == DELIVERING, D.c.locked_until < now),
    )
    picked = (
        select(D.c.id)
        .where(due)
        .order_by(D.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        update(D)
        .where(D.c.id == picked.c.id)
        .values(
            status=DELIVERING, locked_until=now + lease, attempts=D.c.attempts + 1, updated_at=now
        )
        .returning(*D.c)
    )
    with db.engine.begin() as conn:
        return [DispatchJob.from_row(row) for row in conn.execute(stmt).all()]


def release_orphans(db: Database) -> None:
    """SQLite has one gateway process: what it was delivering when it died is due now."""
    with db.engine.begin() as conn:
        conn.execute(
            update(D).where(D.c.status == DELIVERING).values(status=PENDING, locked_until=None)
        )


def retry(db: Database, dispatch_id: str) -> str | None:
    """Queue a failed, dead or skipped dispatch again; returns its previous status.

    ``None`` when there is no such dispatch; the status unchanged when it cannot be
    retried (pending, delivering or delivered).
    """
    now = utcnow()
    with db.engine.begin() as conn:
        status = conn.execute(select(D.c.status).where(D.c.id == dispatch_id)).scalar()
        if status in RETRYABLE:
            conn.execute(
                update(D)
                .where(D.c.id == dispatch_id, D.c.status == status)
                .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
            )
    return status


def retry_many(db: Database, status: str, *, workflow_id: str | None, limit: int) -> int:
    """Queue up to ``limit`` dispatches that are ``status`` (failed, dead or skipped) again,
    oldest first, only ``workflow_id``'s if given; returns how many."""
    if status not in RETRYABLE:
        raise ValueError(f"only {', '.join(RETRYABLE)} dispatches can be retried, not {status!r}")
    pick = (
        select(D.c.id)
        .where(D.c.status == status)
        .order_by(D.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if workflow_id is not None:
        pick = pick.where(D.c.workflow_id == workflow_id)
    now = utcnow()
    with db.engine.begin() as conn:
        # picked first, then updated: PostgreSQL may run an ``IN (… LIMIT n)`` subquery of
        # the UPDATE once per row, and each run skips the rows updated so far
        ids: list[str] = list(conn.execute(pick).scalars())
        if not ids:
            return 0
        stmt = (
            update(D)
            .where(D.c.id.in_(ids))
            .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
        )
        return conn.execute(stmt).rowcount


_LISTED = [c for c in D.c if c.name not in ("locked_until", "payload")]


def list_dispatches(
    db: Database,
    status: str | None = None,
    workflow_id: str | None = None,
    limit: int = 100,
    *,
    before: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, as ``GET /api/v1/dispatches`` shows them, only ids below ``before`` if
    given (the next page). A payload that is not JSON is shown as stored."""
    payload = cast(D.c.payload, Text).label("payload")  # decoded by _view, whatever it holds
    query = select(*_LISTED, payload).order_by(D.c.id.desc()).limit(limit)  # ids grow with time
    if status:
        query = query.where(D.c.status == status)
    if workflow_id:
        query = query.where(D.c.workflow_id == workflow_id)
    if before is not None:
        query = query.where(D.c.id < before)
    with db.engine.connect() as conn:
        return [_view(row) for row in conn.execute(query).mappings()]


def counts_by_status(db: Database) -> dict[str, int]:
    """``status → rows`` (the backlog in ``/health/detailed``)."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(D.c.status, func.count()).group_by(D.c.status)).all()
    return {row[0]: row[1] for row in rows}


def _view(row: Any) -> dict[str, Any]:
    view = dict(row)
    for key in ("next_attempt_at", "created_at", "updated_at", "delivered_at"):
        view[key] = row[key].isoformat() if row[key] else None
    view["payload"] = _decoded(row["payload"])
    view["dispatch_id"] = view.pop("id")
    return view


def _decoded(text: str | None) -> Any:
    """A payload column's JSON text decoded (lone surrogates included), else the text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
