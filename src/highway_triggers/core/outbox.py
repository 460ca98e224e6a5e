"""The ingress writer: dedup rows, wait claims and dispatch rows, group-committed.

Requests hand an :class:`Intake` to one writer task and await its future. The writer
takes everything queued, writes it in one transaction on the database's writer
thread, commits, then resolves each future. Nothing is answered before it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from highway_triggers.core.event import RouteResult
from highway_triggers.core.trigger import BaseTrigger
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.models import Delivery, Dispatch, Wait

log = logging.getLogger(__name__)

DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
DISPATCHES: Table = Dispatch.__table__  # type: ignore[attr-defined]
WAITS: Table = Wait.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class Intake:
    """What one event asks of the writer."""

    event_id: str
    subtype: str
    payload: dict[str, Any]
    starts: Sequence[BaseTrigger]
    dedup_key: str | None = None
    tenant_id: str | None = None
    correlation_keys: tuple[str, ...] = ()
    event_name: str | None = None
    exclusive: bool = False
    """A fire: when a wait was resumed, the start is dropped."""
    future: asyncio.Future[RouteResult] = field(default=None)  # type: ignore[assignment]


class OutboxWriter:
    """One task that commits many requests' rows per transaction (group commit)."""

    def __init__(
        self, db: Database, *, max_batch: int, on_commit: Callable[[list[RouteResult]], None]
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._pending: deque[Intake] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        dialect = postgresql if db.is_postgres else sqlite
        self._insert_delivery = (
            dialect.insert(DELIVERIES)
            .on_conflict_do_nothing()
            .returning(DELIVERIES.c.source, DELIVERIES.c.delivery_id)
        )
        self._forget_delivery = delete(DELIVERIES).where(
            DELIVERIES.c.source == bindparam("s"), DELIVERIES.c.delivery_id == bindparam("d")
        )
        self._insert_dispatch = dialect.insert(DISPATCHES).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="highway-outbox-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def submit(self, intake: Intake) -> RouteResult:
        """Queue ``intake`` and wait until its rows are committed."""
        if self._closing:
            raise RuntimeError("the gateway is shutting down")
        intake.future = asyncio.get_running_loop().create_future()
        self._pending.append(intake)
        self._wakeup.set()
        return await intake.future

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
            outcomes = await self._db.write(self._write_batch, batch)
            committed: list[RouteResult] = []
            for intake, outcome in zip(batch, outcomes, strict=True):
                if intake.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    intake.future.set_exception(outcome)
                else:
                    intake.future.set_result(outcome)
                    committed.append(outcome)
            if committed:
                self._on_commit(committed)

    def _write_batch(self, batch: list[Intake]) -> list[RouteResult | BaseException]:
        """One transaction for the batch; if it fails, each intake on its own."""
        try:
            with self._db.engine.begin() as conn:
                return list(self._write(conn, batch))
        except Exception as exc:
            if len(batch) == 1:
                log.warning("outbox write failed: %s", exc)
                return [exc]
        return [self._write_batch([intake])[0] for intake in batch]

    def _write(self, conn: Connection, batch: list[Intake]) -> list[RouteResult]:
        now = utcnow()
        fresh = self._dedup(conn, batch, now)
        rows: list[dict[str, Any]] = []
        results: list[RouteResult] = []
        unmatched: list[dict[str, str]] = []
        for intake in batch:
            if intake.dedup_key is not None and intake.event_id not in fresh:
                results.append(RouteResult(intake.event_id, duplicate=True))
                continue
            resumes = self._resumes(conn, intake, now) if intake.correlation_keys else []
            starts = [] if (intake.exclusive and resumes) else list(intake.starts)
            new_rows = resumes + [_start_row(intake, trigger, now) for trigger in starts]
            if not new_rows and intake.dedup_key is not None:
                # nothing took it: forget the delivery, so a redelivery may match later
                unmatched.append({"s": intake.subtype, "d": intake.dedup_key})
            rows.extend(new_rows)
            results.append(
                RouteResult(
                    intake.event_id,
                    tuple(r["id"] for r in new_rows),
                    started=len(starts),
                    resumed=len(resumes),
                )
            )
        if rows:
            conn.execute(self._insert_dispatch, rows)
        if unmatched:
            conn.execute(self._forget_delivery, unmatched)
        return results

    def _dedup(self, conn: Connection, batch: list[Intake], now: datetime) -> set[str]:
        """Insert the dedup rows; the event ids whose row is new."""
        first_by_key: dict[tuple[str, str], str] = {}
        for intake in batch:
            if intake.dedup_key is not None:
                first_by_key.setdefault((intake.subtype, intake.dedup_key), intake.event_id)
        if not first_by_key:
            return set()
        params = [
            {"source": s, "delivery_id": d, "event_id": e, "received_at": now}
            for (s, d), e in first_by_key.items()
        ]
        inserted = conn.execute(self._insert_delivery, params).all()
        return {first_by_key[(row[0], row[1])] for row in inserted}

    def _resumes(self, conn: Connection, intake: Intake, now: datetime) -> list[dict[str, Any]]:
        """Phase 0: claim the open waits this event's correlation keys name."""
        keys = intake.correlation_keys
        query = (
            select(WAITS.c.id, WAITS.c.workflow_run_id, WAITS.c.workflow_id, WAITS.c.multi_use)
            .where(or_(WAITS.c.correlation_key.in_(keys), WAITS.c.token.in_(keys)))
            .where(WAITS.c.consumed_at.is_(None))
            .where(or_(WAITS.c.expires_at.is_(None), WAITS.c.expires_at > now))
            .order_by(WAITS.c.created_at)
        )
        if intake.tenant_id is not None:
            query = query.where(WAITS.c.tenant_id == intake.tenant_id)
        if intake.event_name is not None:
            query = query.where(WAITS.c.event_name == intake.event_name)
        rows = []
        for wait in conn.execute(query).all():
            if wait.multi_use:
                key = f"resume:{wait.id}:{intake.event_id}"
            else:
                claimed = conn.execute(
                    update(WAITS)
                    .where(WAITS.c.id == wait.id, WAITS.c.consumed_at.is_(None))
                    .values(consumed_at=now)
                )
                if claimed.rowcount != 1:
                    continue
                key = f"resume:{wait.id}"
            rows.append(
                _dispatch_row(
                    intake,
                    now,
                    kind="resume",
                    mode="resume",
                    workflow_id=wait.workflow_id,
                    execution_id=wait.workflow_run_id,
                    wait_id=wait.id,
                    idempotency_key=key,
                )
            )
        return rows


def _start_row(intake: Intake, trigger: BaseTrigger, now: datetime) -> dict[str, Any]:
    return _dispatch_row(
        intake,
        now,
        kind="start",
        mode=trigger.on_fire,
        workflow_id=trigger.workflow_id,
        trigger_id=trigger.id,
        tenant_id=trigger.tenant_id,
        idempotency_key=f"start:{trigger.id}:{intake.dedup_key or intake.event_id}",
    )


def _dispatch_row(intake: Intake, now: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "id": uuid.uuid4().hex,
        "workflow_id": None,
        "execution_id": None,
        "trigger_id": None,
        "wait_id": None,
        "tenant_id": intake.tenant_id,
        "trigger_type": intake.subtype,
        "event_id": intake.event_id,
        "payload": intake.payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    row.update(values)
    return row
