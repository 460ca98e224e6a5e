"""The dispatcher: delivers outbox rows to the engine with retries.

Dispatches written by this replica arrive in memory, already leased to it. Others
(retries after backoff, rows whose replica died while delivering, rows retried by
hand) are claimed from the table with ``FOR UPDATE SKIP LOCKED`` (SQLite needs no
row locks: one writer thread serialises claims). Outcomes go back through the
:class:`IngressWriter` and are committed with its next batch. Every call to the engine
carries the row's idempotency key, the same on every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from highway_triggers.core import dispatches
from highway_triggers.core.correlation import EVENT_ID, about_event
from highway_triggers.core.dispatches import DispatchJob, DispatchSQL
from highway_triggers.core.engine import EngineAdapter, EngineError
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import DEAD, DELIVERED, FAILED, SKIPPED

if TYPE_CHECKING:
    from highway_triggers.core.ingress import IngressWriter
    from highway_triggers.core.metrics import Metrics
    from highway_triggers.core.tracing import Tracing
    from highway_triggers.settings import Settings

log = logging.getLogger(__name__)

OUTCOME_BATCH = 64
JITTER = (0.5, 1.0)
"""Each retry waits its nominal backoff times a random factor in this range."""


def backoff_seconds(attempts: int, base: float, cap: float, jitter: float | None = None) -> float:
    """The wait after failed attempt ``attempts``: base·2^(attempts-1), at most ``cap``, times
    ``jitter`` (random in :data:`JITTER` unless given)."""
    delay = min(cap, base * 2.0 ** min(attempts - 1, 64))  # a float overflows past 2^1023
    return delay * (random.uniform(*JITTER) if jitter is None else jitter)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to."""

    job: DispatchJob
    status: str
    execution_id: str | None = None
    error: str | None = None


class Dispatcher:
    """Delivers jobs concurrently (bounded), records each outcome, polls for due rows."""

    def __init__(
        self,
        db: Database,
        engine: EngineAdapter,
        writer: IngressWriter,
        settings: Settings,
        metrics: Metrics,
        tracing: Tracing,
    ) -> None:
        self._db = db
        self._engine = engine
        self._writer = writer
        self._sql = DispatchSQL(db.dialect)
        self._settings = settings
        self._metrics = metrics
        self._tracing = tracing
        self._wakeup = asyncio.Event()
        self._idle: deque[asyncio.Future[None]] = deque()
        """One future per worker waiting for work; a worker is woken by resolving its own."""
        self._waking = False
        """A worker was woken and has not run yet: no need to wake another."""
        self._backlog: deque[DispatchJob] = deque()
        self._chains: dict[str, deque[DispatchJob]] = {}
        """Per wait with a resume in flight: the later resumes of that wait, in order."""
        self._busy = 0
        self._done: list[Outcome] = []
        self._workers: list[asyncio.Task[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def accept(self, jobs: list[DispatchJob]) -> None:
        """Deliver these freshly committed jobs (they are leased to this replica)."""
        if not self._stopping:
            self._backlog.extend(jobs)
            self._wake_one()

    def wake(self) -> None:
        """Look for due rows in the table now rather than at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        if not self._db.is_postgres:
            await self._db.write(dispatches.release_orphans, self._db)
        self._workers = [
            asyncio.create_task(self._deliver_backlog(), name=f"highway-dispatch-worker-{i}")
            for i in range(self._settings.dispatch_concurrency)
        ]
        self._task = asyncio.create_task(self._poll(), name="highway-dispatcher")

    async def stop(self) -> None:
        """Finish the deliveries under way and hand their outcomes to the writer."""
        self._stopping = True
        self._backlog.clear()  # still leased; delivered after the lease or restart
        while self._idle:
            self._idle.popleft().set_result(None)
        self._wakeup.set()
        await asyncio.gather(*self._workers)
        if self._task is not None:
            await self._task
        self._flush()

    def _wake_one(self) -> None:
        """Wake one idle worker for the backlog, unless one is already on its way.

        Each worker that takes a job wakes the next while jobs remain, so concurrency
        grows as deliveries wait on the network; an in-process engine's deliveries never
        wait, and one worker drains the backlog while the rest sleep.
        """
        if self._backlog and self._idle and not self._waking:
            self._waking = True
            self._idle.popleft().set_result(None)

    async def _deliver_backlog(self) -> None:
        """One of ``dispatch_concurrency`` workers: deliver jobs until the backlog is empty.

        A delivery that never waits (an in-process engine) runs inline, with no task per
        job; one that waits on the network lets the other workers go on. Resumes of one
        wait are delivered one after another, in the order they were written: a
        multi-use wait receives its events in arrival order.
        """
        while not self._stopping:
            while self._backlog:
                job = self._backlog.popleft()
                self._wake_one()
                if job.wait_id is None:
                    await self._deliver_and_record(job)
                elif (chain := self._chains.get(job.wait_id)) is not None:
                    chain.append(job)  # the worker delivering this wait's resume takes it next
                else:
                    await self._deliver_chain(job, job.wait_id)
            if not self._busy:
                self._flush()
            if self._stopping:
                return
            idle = asyncio.get_running_loop().create_future()
            self._idle.append(idle)
            await idle
            self._waking = False

    async def _deliver_chain(self, job: DispatchJob, wait_id: str) -> None:
        """Deliver ``job``, then each resume of the same wait that arrived meanwhile."""
        chain = self._chains[wait_id] = deque()
        try:
            while True:
                await self._deliver_and_record(job)
                if not chain or self._stopping:  # on stop, the rest stay leased (see stop)
                    return
                job = chain.popleft()
        finally:
            del self._chains[wait_id]

    async def _deliver_and_record(self, job: DispatchJob) -> None:
        self._busy += 1
        outcome = await self._deliver(job)
        self._busy -= 1
        self._done.append(outcome)
        if len(self._done) >= OUTCOME_BATCH:
            self._flush()

    async def _poll(self) -> None:
        """Claim due rows (retries, expired leases, rows retried by hand) every poll interval."""
        poll = self._settings.dispatch_poll_seconds
        while not self._stopping:
            free = self._settings.dispatch_concurrency - self._busy - len(self._backlog)
            if free > 0:
                try:
                    claimed = await self._db.write(
                        dispatches.claim_due,
                        self._db,
                        min(free, self._settings.dispatch_batch_size),
                        timedelta(seconds=self._settings.dispatch_lease_seconds),
                    )
                except Exception:
                    log.exception("claiming due dispatches failed; will retry")
                    claimed = []
                if claimed:
                    self.accept(claimed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), poll)
            self._wakeup.clear()

    def _flush(self) -> None:
        if not self._done:
            return
        done, self._done = self._done, []
        sql = self._sql
        now = utcnow()
        stamp = sql.timestamp(now)
        params = []
        for o in done:
            if o.status == FAILED:
                delay = backoff_seconds(
                    o.job.attempts,
                    self._settings.dispatch_backoff_base_seconds,
                    self._settings.dispatch_backoff_max_seconds,
                )
                next_attempt = sql.timestamp(now + timedelta(seconds=delay))
            else:
                next_attempt = stamp
            params.append(
                (
                    o.status,
                    o.execution_id or o.job.execution_id,
                    o.error,
                    next_attempt,
                    stamp if o.status == DELIVERED else None,
                    stamp,
                    o.job.id,
                    o.job.attempts,
                )
            )
            self._metrics.dispatched(o.status)
            if o.status in (FAILED, DEAD):
                with about_event(o.job.event_id):
                    log.warning(
                        "dispatch %s attempt %d %s: %s", o.job.id, o.job.attempts, o.status, o.error
                    )
        self._writer.record(params)

    async def _deliver(self, job: DispatchJob) -> Outcome:
        """One attempt (in an engine span when tracing); log lines name the job's event."""
        token = EVENT_ID.set(job.event_id)
        try:
            if self._tracing.enabled:
                outcome = await self._tracing.engine_call(job, self._call_engine)
            else:
                outcome = await self._call_engine(job)
            log.debug("dispatch %s attempt %d %s", job.id, job.attempts, outcome.status)
            return outcome
        except EngineError as exc:
            final = not exc.retryable or job.attempts >= self._settings.dispatch_max_attempts
            return Outcome(job, DEAD if final else FAILED, error=str(exc))
        except Exception as exc:
            log.exception("engine adapter raised while delivering dispatch %s", job.id)
            final = job.attempts >= self._settings.dispatch_max_attempts
            return Outcome(job, DEAD if final else FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            EVENT_ID.reset(token)

    async def _call_engine(self, job: DispatchJob) -> Outcome:
        engine = self._engine
        if job.kind == "resume":
            assert job.execution_id is not None
            await engine.resume(
                job.execution_id,
                resume_data=job.payload,
                interaction_id=job.wait_id or job.event_id,
                idempotency_key=job.idempotency_key,
                event_name=job.event_name,
                correlation_key=job.correlation_key,
            )
            return Outcome(job, DELIVERED, job.execution_id)
        assert job.workflow_id is not None
        if job.mode in ("resume_or_start", "resume_only"):
            paused = await engine.paused_runs(
                job.workflow_id, tenant_id=job.tenant_id, idempotency_key=job.idempotency_key
            )
            if paused:
                latest = max(paused, key=lambda r: (r.started_at is not None, r.started_at))
                await engine.resume(
                    latest.execution_id,
                    resume_data=job.payload,
                    interaction_id=job.event_id,
                    idempotency_key=job.idempotency_key,
                )
                return Outcome(job, DELIVERED, latest.execution_id)
            if job.mode == "resume_only":
                return Outcome(job, SKIPPED, error="no paused run to resume (on_fire: resume_only)")
        execution_id = await engine.start(
            job.workflow_id,
            trigger_type=job.trigger_type,
            trigger_data=job.payload,
            tenant_id=job.tenant_id,
            idempotency_key=job.idempotency_key,
        )
        return Outcome(job, DELIVERED, execution_id)
