"""Wait timeouts: an expired open wait resumes its run once with ``{"status": "timeout"}``.

Every ``wait_timeout_poll_seconds`` the sweeper closes the waits whose ``expires_at``
has passed and writes their resume dispatches in the same transaction. A wait is
claimed with ``UPDATE … WHERE consumed_at IS NULL`` on rows locked with ``SKIP
LOCKED``, so an event that consumes it at the same moment, or another replica's
sweeper, never fires it a second time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from highway_triggers.core.dispatches import DispatchJob, insert_jobs, resume_job
from highway_triggers.core.ids import new_uuid
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import WAITS

if TYPE_CHECKING:
    from highway_triggers.core.dispatcher import Dispatcher
    from highway_triggers.core.metrics import Metrics
    from highway_triggers.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT = "TIMEOUT"
TIMEOUT_DATA = {"status": "timeout"}
BATCH = 256


class WaitTimeouts:
    """A periodic task that closes expired waits and hands their resumes to the dispatcher."""

    def __init__(
        self, db: Database, dispatcher: Dispatcher, settings: Settings, metrics: Metrics
    ) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._interval = settings.wait_timeout_poll_seconds
        self._lease = timedelta(seconds=settings.dispatch_lease_seconds)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="highway-wait-timeouts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                jobs = await self._db.write(self.expire, BATCH)
            except Exception:
                log.exception("closing expired waits failed; will retry")
                jobs = []
            if jobs:
                self._metrics.written(len(jobs))
                self._dispatcher.accept(jobs)
            if len(jobs) < BATCH:
                await asyncio.sleep(self._interval)

    def expire(self, limit: int) -> list[DispatchJob]:
        """Close up to ``limit`` expired open waits; their committed, leased resume jobs."""
        now = utcnow()
        due = (
            select(WAITS.c.id)
            .where(WAITS.c.consumed_at.is_(None), WAITS.c.expires_at <= now)
            .order_by(WAITS.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        close = (
            update(WAITS)
            .where(WAITS.c.id.in_(due.scalar_subquery()), WAITS.c.consumed_at.is_(None))
            .values(consumed_at=now, closed_reason="expired")
            .returning(
                WAITS.c.id,
                WAITS.c.tenant_id,
                WAITS.c.workflow_run_id,
                WAITS.c.workflow_id,
                WAITS.c.event_name,
                WAITS.c.correlation_key,
            )
        )
        with self._db.engine.begin() as conn:
            jobs = [
                resume_job(
                    wait,
                    trigger_type=TIMEOUT,
                    event_id=new_uuid(),
                    payload=dict(TIMEOUT_DATA),
                    idempotency_key=f"timeout:{wait.id}",
                )
                for wait in conn.execute(close).all()
            ]
            insert_jobs(conn, jobs, now, leased_until=now + self._lease)
        return jobs
