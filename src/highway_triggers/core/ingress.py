"""The ingress transaction: each event's dedup row, claim, wait claims (phase 0), kept
early event, dispatch rows and delivery log row, group-committed.

Requests hand an :class:`Intake` to one writer task and await its future. The writer
takes everything queued, writes it in one transaction, commits, then resolves each
future: nothing is answered before it is durable. New dispatch rows are written already
leased to this replica and handed to its dispatcher in memory; the dispatcher's outcomes
come back through the writer and are committed with the next batch, as are the log rows
of requests refused at the door. One transaction per cycle carries it all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from highway_triggers.core.correlation import about_event
from highway_triggers.core.delivery_log import (
    DELIVERED,
    DUPLICATE,
    FILTERED,
    HELD,
    REFUSED,
    DeliveryLogSQL,
    Miss,
    reason_text,
)
from highway_triggers.core.dispatches import DispatchJob, DispatchSQL, start_job
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.event import RouteResult
from highway_triggers.core.ids import new_uuid
from highway_triggers.core.tracing import Tracing
from highway_triggers.core.trigger import BaseTrigger
from highway_triggers.core.waits import early
from highway_triggers.core.waits.phase0 import WaitClaims
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.driver import DriverSQL

log = logging.getLogger(__name__)

GATHER_PASSES = 2
"""Event-loop passes the writer yields before it cuts a batch (see ``_gather``)."""
MAX_NOTED = 1_000
"""Log rows of refused requests waiting for a commit; past it more are dropped (counted),
so that a flood of forged requests holds no memory and grows the log no faster."""
Claim = Callable[[Connection], bool]
"""A plugin's statement run in the ingress transaction before the event's rows (advance a
cursor, insert a unique slot row); ``False`` refuses the event and nothing is written."""


class DedupSQL(DriverSQL):
    """The ``deliveries`` statements: a source's delivery id is taken once."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        mark = self.mark
        self.insert = (
            "INSERT INTO deliveries (source, delivery_id, event_id, received_at) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT DO NOTHING"
        )
        self.owner = (
            f"SELECT event_id FROM deliveries WHERE source = {mark} AND delivery_id = {mark}"
        )
        self.renew = (
            f"UPDATE deliveries SET event_id = {mark}, received_at = {mark} "
            f"WHERE source = {mark} AND delivery_id = {mark} AND received_at < {mark}"
        )
        self.forget = f"DELETE FROM deliveries WHERE source = {mark} AND delivery_id = {mark}"


@dataclass(slots=True)
class Intake:
    """What one event asks of the writer."""

    event_id: str
    subtype: str
    payload: dict[str, Any]
    starts: Sequence[BaseTrigger]
    dedup_key: str | None = None
    dedup_window: float | None = None
    """Seconds a delivery counts as a duplicate; ``None``: the retention period."""
    tenant_id: str | None = None
    correlation_keys: tuple[str, ...] = ()
    tokens_only: bool = False
    """The correlation keys match waits' tokens only, never their correlation keys."""
    event_name: str | None = None
    wait_owner: str | None = None
    """Phase 0 claims only this plugin's waits (``None``: waits that no plugin owns)."""
    exclusive: bool = False
    """A fire: when a wait was resumed, the start is dropped."""
    claim: Claim | None = None
    """Runs in the writer's transaction before this event's rows; ``False`` refuses it."""
    future: asyncio.Future[RouteResult] = field(default=None)  # type: ignore[arg-type]  # set by submit
    traceparent: str | None = None
    """The route span's (tracing on): kept with this event's dispatch rows."""
    explain: Callable[[], Miss] | None = None
    """Why nothing took the event, for its log row: called only when nothing did."""


class IngressWriter:
    """One task that commits many requests' rows per transaction (group commit)."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int,
        lease_seconds: float,
        lookback_seconds: float,
        on_commit: Callable[[list[DispatchJob]], None],
        tracing: Tracing,
    ) -> None:
        self._dispatches = DispatchSQL(db.dialect)
        self._dedup_sql = DedupSQL(db.dialect)
        self._log = DeliveryLogSQL(db.dialect)
        self._waits = WaitClaims(db.dialect)
        self._db = db
        self._max_batch = max_batch
        self._lease = timedelta(seconds=lease_seconds)
        self._lookback = timedelta(seconds=lookback_seconds)
        self._kept = f"kept {lookback_seconds:g} s for a wait registered late"
        self._on_commit = on_commit
        self._tracing = tracing
        self._pending: deque[Intake] = deque()
        self._outcomes: list[tuple[Any, ...]] = []
        self._noted: deque[tuple[Any, ...]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._conn: Connection | None = None
        """The writer's own connection, kept between batches (a pool checkout per batch
        costs as much as the batch's statements)."""

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="highway-ingress-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._conn is not None:
            await self._db.write(self._conn.close)

    async def submit(self, intake: Intake) -> RouteResult:
        """Queue ``intake`` and wait until its rows are committed."""
        if self._closing or self._loop is None:
            raise RuntimeError("the gateway is not running")
        # the loop kept from start(): asyncio.get_running_loop() makes a getpid() system
        # call on Python 3.11, a measurable cost once per request
        intake.future = self._loop.create_future()
        self._pending.append(intake)
        self._wakeup.set()
        return await intake.future

    def record(self, outcomes: list[tuple[Any, ...]]) -> None:
        """Queue dispatch outcomes (``DispatchSQL.record_outcome`` parameters) for the next commit."""
        self._outcomes.extend(outcomes)
        self._wakeup.set()

    def note(
        self,
        source: str,
        outcome: str,
        reason: str,
        *,
        tenant_id: str | None = None,
        targets: str | None = None,
        delivery_id: str | None = None,
    ) -> bool:
        """Queue the log row of a request that never reached routing (refused at the door,
        no trigger for its path) for the next commit; ``False`` when it was dropped, as
        :data:`MAX_NOTED` rows wait already (the writer never holds more)."""
        if len(self._noted) >= MAX_NOTED or self._closing or self._loop is None:
            return False
        row = (
            new_uuid(), self._log.timestamp(utcnow()), source, delivery_id, tenant_id, outcome,
            0, 0, None, reason_text(reason), targets,
        )  # fmt: skip
        self._noted.append(row)
        self._wakeup.set()
        return True

    async def _run(self) -> None:
        while True:
            if not self._pending and not self._outcomes and not self._noted:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._gather()
            count = min(self._max_batch, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            outcomes, self._outcomes = self._outcomes, []
            try:
                traced = self._tracing.enabled and batch
                with self._tracing.commit(batch) if traced else nullcontext():
                    results, jobs = await self._db.write(self._write_batch, batch, outcomes)
            except Exception as exc:  # a bug, not a database error: fail these requests, go on
                log.exception("outbox writer failed")
                results, jobs = [exc] * len(batch), []
            for intake, result in zip(batch, results, strict=True):
                if intake.future.done():
                    continue
                if isinstance(result, BaseException):
                    intake.future.set_exception(result)
                else:
                    intake.future.set_result(result)
            if jobs:
                self._on_commit(jobs)

    async def _gather(self) -> None:
        """Let the requests already read reach the queue before the batch is cut.

        A request read from its socket in one pass of the event loop submits in the
        next; yielding ``GATHER_PASSES`` passes lets every connection with data waiting
        join this commit instead of the next one (batches under load roughly double,
        and each event's share of the commit halves). Idle, it costs two loop passes.
        """
        for _ in range(GATHER_PASSES):
            await asyncio.sleep(0)

    def _write_batch(
        self, batch: list[Intake], outcomes: list[tuple[Any, ...]]
    ) -> tuple[list[RouteResult | BaseException], list[DispatchJob]]:
        """One transaction for everything; if it fails, each part on its own."""
        try:
            if self._conn is None or self._conn.invalidated:
                self._conn = self._db.engine.connect()
            with self._conn.begin():
                return self._write(self._conn, batch, outcomes)
        except Exception as exc:
            if len(batch) + bool(outcomes) <= 1:
                with about_event(batch[0].event_id) if batch else nullcontext():
                    log.warning("outbox write failed: %s", exc)
                return [exc] * len(batch), []
        results: list[RouteResult | BaseException] = []
        jobs: list[DispatchJob] = []
        if outcomes:
            self._write_batch([], outcomes)
        for intake in batch:
            result, new_jobs = self._write_batch([intake], [])
            results.extend(result)
            jobs.extend(new_jobs)
        return results, jobs

    def _write(
        self, conn: Connection, batch: list[Intake], outcomes: list[tuple[Any, ...]]
    ) -> tuple[list[RouteResult | BaseException], list[DispatchJob]]:
        sql = self._dispatches
        cursor = conn.connection.cursor()
        now = utcnow()
        stamp, lease = sql.timestamp(now), sql.timestamp(now + self._lease)
        log_sql = self._log
        if outcomes:
            cursor.executemany(sql.record_outcome, outcomes)
        # the noted rows are taken here: if this transaction fails they are dropped, as
        # rows past MAX_NOTED are, and the batch's events are written one by one
        logged = [self._noted.popleft() for _ in range(len(self._noted))]
        duplicates = self._dedup(cursor, batch, stamp)
        results: list[RouteResult | BaseException] = []
        jobs: list[DispatchJob] = []
        unmatched: list[tuple[str, str]] = []
        for intake in batch:
            if intake.dedup_key is not None and intake.event_id in duplicates:
                original = duplicates[intake.event_id]
                results.append(RouteResult(original or intake.event_id, duplicate=True))
                logged.append(_row(intake, stamp, DUPLICATE, duplicate_of=original))
                continue
            if intake.claim is not None and not _claimed(conn, intake.claim):
                # not logged: the occurrence is another's (a replica took the cron slot)
                results.append(RouteResult(intake.event_id, refused=True))
                if intake.dedup_key is not None:
                    unmatched.append((intake.subtype, intake.dedup_key))
                continue
            try:
                resumes = self._resumes(cursor, intake, stamp)
            except HTTPError as rejected:  # the payload fails a wait's schema: nothing happens
                results.append(rejected)
                reason = reason_text(f"{rejected.code}: {rejected.message}")
                logged.append(_row(intake, stamp, REFUSED, reason=reason))
                if intake.dedup_key is not None:
                    unmatched.append((intake.subtype, intake.dedup_key))
                continue
            starts = [] if (intake.exclusive and resumes) else intake.starts
            key = intake.dedup_key or intake.event_id
            new_jobs = resumes + [
                start_job(
                    trigger,
                    trigger_type=intake.subtype,
                    event_id=intake.event_id,
                    payload=intake.payload,
                    key=key,
                )
                for trigger in starts
            ]
            held = not resumes and self._may_hold(intake)
            if held:
                assert intake.event_name is not None
                early.keep(
                    conn,
                    tenant_id=intake.tenant_id,
                    event_name=intake.event_name,
                    correlation_keys=intake.correlation_keys,
                    event_id=intake.event_id,
                    payload=intake.payload,
                    now=now,
                    lookback=self._lookback,
                )
            if not new_jobs and not held and intake.dedup_key is not None:
                # nothing took it: forget the delivery, so that a redelivery may match later
                unmatched.append((intake.subtype, intake.dedup_key))
            if intake.traceparent is not None:
                for job in new_jobs:
                    job.traceparent = intake.traceparent
            jobs.extend(new_jobs)
            if new_jobs:
                started, resumed = len(starts), len(resumes)
                kept, targets = self._kept if held else None, log_sql.delivered(new_jobs)
                logged.append(_row(intake, stamp, DELIVERED, started, resumed, None, kept, targets))
            else:
                why, declined = intake.explain() if intake.explain else ("nothing took it", None)
                outcome, why = (HELD, f"{why}; {self._kept}") if held else (FILTERED, why)
                logged.append(_row(intake, stamp, outcome, reason=why, targets=declined))
            results.append(
                RouteResult(
                    intake.event_id,
                    tuple(job.id for job in new_jobs),
                    started=len(starts),
                    resumed=len(resumes),
                    held=held,
                )
            )
        if jobs:
            cursor.executemany(sql.insert, [sql.insert_params(j, stamp, lease) for j in jobs])
        if unmatched:
            cursor.executemany(self._dedup_sql.forget, unmatched)
        if logged:
            cursor.executemany(log_sql.insert, logged)
        return results, jobs

    def _may_hold(self, intake: Intake) -> bool:
        """An injected event that no wait took is kept, in case its wait comes late."""
        return (
            bool(self._lookback)
            and intake.event_name is not None
            and bool(intake.correlation_keys)
            and not intake.tokens_only
            and intake.wait_owner is None
        )

    def _dedup(self, cursor: Any, batch: list[Intake], stamp: Any) -> dict[str, str | None]:
        """Insert the dedup rows; the duplicates' event ids, each with the event id of its
        original (``None``: its row went meanwhile).

        Inserting is cheap and a conflict is rare, so the rows are inserted blindly and
        only a batch that inserted fewer rows than it had is looked at row by row.
        """
        first_by_key: dict[tuple[str, str], Intake] = {}
        keyed = 0
        for intake in batch:
            if intake.dedup_key is not None:
                keyed += 1
                first_by_key.setdefault((intake.subtype, intake.dedup_key), intake)
        if not first_by_key:
            return {}
        # in key order: two replicas' batches that share keys lock them in the same order
        # (PostgreSQL would otherwise find a deadlock between them, e.g. cron slots)
        rows = [
            (source, delivery_id, intake.event_id, stamp)
            for (source, delivery_id), intake in sorted(first_by_key.items())
        ]
        sql = self._dedup_sql
        cursor.executemany(sql.insert, rows)
        if cursor.rowcount == len(rows):
            if keyed == len(rows):
                return {}
            owners: dict[tuple[str, str], str | None] = {
                key: intake.event_id for key, intake in first_by_key.items()
            }
        else:
            owners = {
                key: self._owner(cursor, key, intake, stamp) for key, intake in first_by_key.items()
            }
        return {
            intake.event_id: owner
            for intake in batch
            if intake.dedup_key is not None
            and (owner := owners[(intake.subtype, intake.dedup_key)]) != intake.event_id
        }

    def _owner(self, cursor: Any, key: tuple[str, str], intake: Intake, stamp: Any) -> str | None:
        """The event id that holds ``key`` once ``intake`` tried to take it: its own when
        it did (a delivery older than its window is new again), else the original's."""
        sql = self._dedup_sql
        owner = cursor.execute(sql.owner, key).fetchone()
        if owner is not None and owner[0] == intake.event_id:
            return intake.event_id
        if intake.dedup_window is not None:
            older_than = sql.timestamp(utcnow() - timedelta(seconds=intake.dedup_window))
            renew = (intake.event_id, stamp, *key, older_than)
            if cursor.execute(sql.renew, renew).rowcount == 1:
                return intake.event_id
        return None if owner is None else str(owner[0])

    def _resumes(self, cursor: Any, intake: Intake, stamp: Any) -> list[DispatchJob]:
        """Phase 0: claim the open waits this event's correlation keys name."""
        if not intake.correlation_keys:
            return []
        return self._waits.claim(
            cursor,
            stamp,
            keys=intake.correlation_keys,
            tenant_id=intake.tenant_id,
            event_name=intake.event_name,
            owner=intake.wait_owner,
            tokens_only=intake.tokens_only,
            trigger_type=intake.subtype,
            event_id=intake.event_id,
            payload=intake.payload,
        )


def _row(
    intake: Intake,
    stamp: Any,
    outcome: str,
    started: int = 0,
    resumed: int = 0,
    duplicate_of: str | None = None,
    reason: str | None = None,
    targets: str | None = None,
) -> tuple[Any, ...]:
    """An intake's log row (``DeliveryLogSQL.insert`` parameters)."""
    return (
        intake.event_id, stamp, intake.subtype, intake.dedup_key, intake.tenant_id, outcome,
        started, resumed, duplicate_of, reason, targets,
    )  # fmt: skip


def _claimed(conn: Connection, claim: Claim) -> bool:
    """Run a claim in a savepoint: a refusal leaves nothing of what it wrote.

    The savepoint is the driver's own statement: SQLAlchemy's ``begin_nested`` costs
    ~150 µs per event, ten times the statements themselves."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute("SAVEPOINT highway_claim")
        try:
            claimed = claim(conn)
        except BaseException:
            cursor.execute("ROLLBACK TO SAVEPOINT highway_claim")
            raise
        if not claimed:
            cursor.execute("ROLLBACK TO SAVEPOINT highway_claim")
        return claimed
    finally:
        cursor.execute("RELEASE SAVEPOINT highway_claim")
        cursor.close()
