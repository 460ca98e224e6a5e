"""The dispatcher: delivers outbox rows to the engine with retries (DESIGN §1, §6).

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` (a no-op on SQLite, where the
single writer thread serialises claims) and leased: a row whose replica died while
delivering is claimed again once its lease ends. Every call to the engine carries the
row's idempotency key, the same on every attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, and_, bindparam, or_, select, update

from highway_triggers.core.engine import EngineAdapter, EngineError
from highway_triggers.core.outbox import DISPATCHES as D
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database

if TYPE_CHECKING:
    from highway_triggers.core.metrics import Metrics
    from highway_triggers.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE = ("failed", "dead", "skipped")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to."""

    row: Row[Any]
    status: str
    execution_id: str | None = None
    error: str | None = None


class Dispatcher:
    """Claims due dispatches, delivers them concurrently, records each outcome."""

    def __init__(
        self, db: Database, engine: EngineAdapter, settings: Settings, metrics: Metrics
    ) -> None:
        self._db = db
        self._engine = engine
        self._settings = settings
        self._metrics = metrics
        self._wakeup = asyncio.Event()
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._done: list[Outcome] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._record_stmt = (
            update(D)
            .where(
                D.c.id == bindparam("b_id"),
                D.c.status == "delivering",
                D.c.attempts == bindparam("b_attempts"),
            )
            .values(
                status=bindparam("b_status"),
                execution_id=bindparam("b_execution_id"),
                last_error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next"),
                delivered_at=bindparam("b_delivered"),
                locked_until=None,
                updated_at=bindparam("b_now"),
            )
        )

    def wake(self) -> None:
        """New rows were committed: look for work now rather than at the next poll."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="highway-dispatcher")

    async def stop(self) -> None:
        """Finish the deliveries under way, record them, stop claiming."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        poll = self._settings.dispatch_poll_seconds
        while True:
            self._wakeup.clear()
            if self._done:
                done, self._done = self._done, []
                await self._safely(self._db.write(self._record, done))
            if self._stopping:
                if not self._inflight:
                    return
                await asyncio.wait(self._inflight)
                continue
            free = self._settings.dispatch_concurrency - len(self._inflight)
            claimed = await self._safely(self._db.write(self._claim, free)) if free > 0 else None
            for row in claimed or ():
                task = asyncio.create_task(self._deliver(row))
                self._inflight.add(task)
                task.add_done_callback(self._finished)
            if not claimed or len(claimed) < free:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), poll)
                except TimeoutError:
                    pass

    async def _safely(self, work: Any) -> Any:
        try:
            return await work
        except Exception:
            log.exception("dispatcher database call failed; will retry")
            await asyncio.sleep(self._settings.dispatch_poll_seconds)
            return None

    def _finished(self, task: asyncio.Task[Outcome]) -> None:
        self._inflight.discard(task)
        self._done.append(task.result())
        self._wakeup.set()

    def _claim(self, limit: int) -> list[Row[Any]]:
        now = utcnow()
        due = or_(
            and_(D.c.status.in_(("pending", "failed")), D.c.next_attempt_at <= now),
            and_(D.c.status == "delivering", D.c.locked_until < now),
        )
        ids = (
            select(D.c.id)
            .where(due)
            .order_by(D.c.next_attempt_at)
            .limit(min(limit, self._settings.dispatch_batch_size))
            .with_for_update(skip_locked=True)
        )
        lease = now + timedelta(seconds=self._settings.dispatch_lease_seconds)
        stmt = (
            update(D)
            .where(D.c.id.in_(ids.scalar_subquery()))
            .values(status="delivering", locked_until=lease, attempts=D.c.attempts + 1, updated_at=now)
            .returning(*D.c)
        )
        with self._db.engine.begin() as conn:
            return list(conn.execute(stmt).all())

    async def _deliver(self, row: Row[Any]) -> Outcome:
        try:
            return await self._call_engine(row)
        except EngineError as exc:
            final = not exc.retryable or row.attempts >= self._settings.dispatch_max_attempts
            return Outcome(row, "dead" if final else "failed", error=str(exc))
        except Exception as exc:
            log.exception("engine adapter raised while delivering dispatch %s", row.id)
            final = row.attempts >= self._settings.dispatch_max_attempts
            return Outcome(row, "dead" if final else "failed", error=f"{type(exc).__name__}: {exc}")

    async def _call_engine(self, row: Row[Any]) -> Outcome:
        engine = self._engine
        if row.kind == "resume":
            await engine.resume(
                row.execution_id,
                resume_data=row.payload,
                interaction_id=row.wait_id or row.event_id,
                idempotency_key=row.idempotency_key,
            )
            return Outcome(row, "delivered", row.execution_id)
        if row.mode in ("resume_or_start", "resume_only"):
            paused = await engine.paused_runs(row.workflow_id, tenant_id=row.tenant_id)
            if paused:
                latest = max(paused, key=lambda r: (r.started_at is not None, r.started_at))
                await engine.resume(
                    latest.execution_id,
                    resume_data=row.payload,
                    interaction_id=row.event_id,
                    idempotency_key=row.idempotency_key,
                )
                return Outcome(row, "delivered", latest.execution_id)
            if row.mode == "resume_only":
                return Outcome(row, "skipped", error="no paused run to resume (on_fire: resume_only)")
        execution_id = await engine.start(
            row.workflow_id,
            trigger_type=row.trigger_type,
            trigger_data=row.payload,
            tenant_id=row.tenant_id,
            idempotency_key=row.idempotency_key,
        )
        return Outcome(row, "delivered", execution_id)

    def _record(self, outcomes: list[Outcome]) -> None:
        now = utcnow()
        params = [
            {
                "b_id": o.row.id,
                "b_attempts": o.row.attempts,
                "b_status": o.status,
                "b_execution_id": o.execution_id or o.row.execution_id,
                "b_error": o.error,
                "b_next": now + timedelta(seconds=self._backoff(o.row.attempts))
                if o.status == "failed"
                else o.row.next_attempt_at,
                "b_delivered": now if o.status == "delivered" else None,
                "b_now": now,
            }
            for o in outcomes
        ]
        with self._db.engine.begin() as conn:
            conn.execute(self._record_stmt, params)
        for o in outcomes:
            self._metrics.dispatched(o.status)
            if o.status in ("failed", "dead"):
                log.warning(
                    "dispatch %s attempt %d %s: %s", o.row.id, o.row.attempts, o.status, o.error
                )

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: about base·2^(n-1), capped, times 0.5–1."""
        s = self._settings
        delay = min(s.dispatch_backoff_max_seconds, s.dispatch_backoff_base_seconds * 2 ** (attempts - 1))
        return delay * random.uniform(0.5, 1.0)


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
                .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
            )
    return status
