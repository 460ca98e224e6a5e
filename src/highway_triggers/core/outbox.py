"""The ingress writer: dedup rows, wait claims and dispatch rows, group-committed.

Requests hand an :class:`Intake` to one writer task and await its future. The writer
takes everything queued, writes it in one transaction on the database's writer
thread, commits, then resolves each future: nothing is answered before it is durable.
New dispatch rows are written already leased to this replica and handed to its
dispatcher in memory; the dispatcher's outcomes come back through the writer and are
committed with the next batch. One transaction per cycle carries it all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from sqlalchemy import Connection, Table, insert

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.event import RouteResult
from highway_triggers.core.outbox_sql import OutboxSQL
from highway_triggers.core.trigger import BaseTrigger
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.models import Delivery, Dispatch, EarlyEvent, Wait

log = logging.getLogger(__name__)

DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
DISPATCHES: Table = Dispatch.__table__  # type: ignore[attr-defined]
WAITS: Table = Wait.__table__  # type: ignore[attr-defined]
EARLY_EVENTS: Table = EarlyEvent.__table__  # type: ignore[attr-defined]
GATHER_PASSES = 2
"""Event-loop passes the writer yields before it cuts a batch (see ``_gather``)."""


def new_id() -> str:
    """A 128-bit id as 32 hex digits: nanosecond time, then 64 random bits.

    Ids that grow with time land at the right edge of B-tree indexes, so a batch of
    inserts touches a few pages instead of one random page per row. Ids are not
    secrets: the random part comes from the (urandom-seeded) Mersenne Twister, as
    ``os.urandom`` costs a system call per id.
    """
    return f"{time.time_ns():016x}{random.getrandbits(64):016x}"


def new_uuid() -> str:
    """:func:`new_id` in the 8-4-4-4-12 form of a UUID (event ids are shown to clients)."""
    h = new_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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

    @classmethod
    def from_row(cls, row: Any) -> DispatchJob:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})


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
    exclusive: bool = False
    """A fire: when a wait was resumed, the start is dropped."""
    claim: Callable[[Connection], bool] | None = None
    """Runs in the writer's transaction before this event's rows; ``False`` refuses it."""
    future: asyncio.Future[RouteResult] = field(default=None)  # type: ignore[arg-type]  # set by submit


class OutboxWriter:
    """One task that commits many requests' rows per transaction (group commit)."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int,
        lease_seconds: float,
        lookback_seconds: float,
        on_commit: Callable[[list[DispatchJob]], None],
    ) -> None:
        self.sql = OutboxSQL(db.dialect)
        self._db = db
        self._max_batch = max_batch
        self._lease = timedelta(seconds=lease_seconds)
        self._lookback = timedelta(seconds=lookback_seconds)
        self._on_commit = on_commit
        self._pending: deque[Intake] = deque()
        self._outcomes: list[tuple[Any, ...]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._conn: Connection | None = None
        """The writer's own connection, kept between batches (a pool checkout per batch
        costs as much as the batch's statements)."""

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="highway-outbox-writer")

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
        """Queue dispatch outcomes (``OutboxSQL.record_outcome`` parameters) for the next commit."""
        self._outcomes.extend(outcomes)
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            if not self._pending and not self._outcomes:
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
        sql = self.sql
        cursor = conn.connection.cursor()
        now = utcnow()
        stamp, lease = sql.timestamp(now), sql.timestamp(now + self._lease)
        if outcomes:
            cursor.executemany(sql.record_outcome, outcomes)
        fresh = self._dedup(cursor, batch, stamp)
        results: list[RouteResult | BaseException] = []
        jobs: list[DispatchJob] = []
        unmatched: list[tuple[str, str]] = []
        for intake in batch:
            if intake.dedup_key is not None and intake.event_id not in fresh:
                results.append(RouteResult(intake.event_id, duplicate=True))
                continue
            if intake.claim is not None and not intake.claim(conn):
                results.append(RouteResult(intake.event_id, refused=True))
                if intake.dedup_key is not None:
                    unmatched.append((intake.subtype, intake.dedup_key))
                continue
            try:
                resumes = self._resumes(cursor, intake, stamp) if intake.correlation_keys else []
            except HTTPError as rejected:  # the payload fails a wait's schema: nothing happens
                results.append(rejected)
                if intake.dedup_key is not None:
                    unmatched.append((intake.subtype, intake.dedup_key))
                continue
            starts = [] if (intake.exclusive and resumes) else intake.starts
            new_jobs = resumes + [_start_job(intake, trigger) for trigger in starts]
            held = not resumes and self._may_hold(intake)
            if held:
                self._hold(conn, intake, now)
            if not new_jobs and not held and intake.dedup_key is not None:
                # nothing took it: forget the delivery, so that a redelivery may match later
                unmatched.append((intake.subtype, intake.dedup_key))
            jobs.extend(new_jobs)
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
            cursor.executemany(
                sql.insert_dispatch, [self._insert_params(j, stamp, lease) for j in jobs]
            )
        if unmatched:
            cursor.executemany(sql.forget_delivery, unmatched)
        return results, jobs

    def _may_hold(self, intake: Intake) -> bool:
        """An injected event that no wait took is kept, in case its wait comes late."""
        return (
            bool(self._lookback)
            and intake.event_name is not None
            and bool(intake.correlation_keys)
            and not intake.tokens_only
        )

    def _hold(self, conn: Connection, intake: Intake, now: datetime) -> None:
        """Keep the event once per correlation key (``core/early_events.py`` uses them)."""
        conn.execute(
            insert(EARLY_EVENTS),
            [
                {
                    "id": new_id(),
                    "tenant_id": intake.tenant_id,
                    "event_name": intake.event_name,
                    "correlation_key": key,
                    "event_id": intake.event_id,
                    "payload": intake.payload,
                    "received_at": now,
                    "expires_at": now + self._lookback,
                    "consumed_at": None,
                }
                for key in intake.correlation_keys
            ],
        )

    def _insert_params(self, job: DispatchJob, stamp: Any, lease: Any) -> tuple[Any, ...]:
        return (
            job.id, job.kind, job.mode, job.workflow_id, job.execution_id, job.trigger_id,
            job.wait_id, job.tenant_id, job.trigger_type, job.event_id, self.sql.json(job.payload),
            job.idempotency_key, "delivering", job.attempts, stamp, lease, stamp, stamp,
        )  # fmt: skip

    def _dedup(self, cursor: Any, batch: list[Intake], stamp: Any) -> set[str]:
        """Insert the dedup rows; the event ids whose row is new.

        Inserting is cheap and a conflict is rare, so the rows are inserted blindly and
        only a batch that inserted fewer rows than it had is looked at row by row.
        """
        first_by_key: dict[tuple[str, str], Intake] = {}
        for intake in batch:
            if intake.dedup_key is not None:
                first_by_key.setdefault((intake.subtype, intake.dedup_key), intake)
        if not first_by_key:
            return set()
        # in key order: two replicas' batches that share keys lock them in the same order
        # (PostgreSQL would otherwise find a deadlock between them, e.g. cron slots)
        rows = [
            (source, delivery_id, intake.event_id, stamp)
            for (source, delivery_id), intake in sorted(first_by_key.items())
        ]
        cursor.executemany(self.sql.insert_delivery, rows)
        if cursor.rowcount == len(rows):
            return {intake.event_id for intake in first_by_key.values()}
        fresh = set()
        for (source, delivery_id), intake in first_by_key.items():
            owner = cursor.execute(self.sql.delivery_owner, (source, delivery_id)).fetchone()
            if owner is not None and owner[0] == intake.event_id:
                fresh.add(intake.event_id)
            elif intake.dedup_window is not None:  # a delivery older than its window is new
                older_than = self.sql.timestamp(utcnow() - timedelta(seconds=intake.dedup_window))
                renew = (intake.event_id, stamp, source, delivery_id, older_than)
                if cursor.execute(self.sql.renew_delivery, renew).rowcount == 1:
                    fresh.add(intake.event_id)
        return fresh

    def _resumes(self, cursor: Any, intake: Intake, stamp: Any) -> list[DispatchJob]:
        """Phase 0: claim the open waits this event's correlation keys name."""
        sql, keys = self.sql, intake.correlation_keys
        columns = ("token",) if intake.tokens_only else ("correlation_key", "token")
        by_tenant, by_event = intake.tenant_id is not None, intake.event_name is not None
        params = (
            stamp,
            *((intake.tenant_id,) if by_tenant else ()),
            *((intake.event_name,) if by_event else ()),
            *keys,
        )
        found: dict[str, OpenWait] = {}
        for column in columns:  # one indexed lookup per column: SQLite scans for an OR of them
            statement = sql.open_waits(column, len(keys), by_tenant, by_event)
            for row in cursor.execute(statement, params).fetchall():
                found.setdefault(row[0], OpenWait(*row))
        waits = sorted(found.values(), key=lambda wait: wait.created_at)
        for wait in waits:  # every schema first: a rejected payload claims no wait at all
            if (schema := sql.from_json(wait.payload_schema)) is not None:
                check_payload(wait.id, schema, intake.payload)
        jobs = []
        for wait in waits:
            if wait.multi_use:
                key = f"resume:{wait.id}:{intake.event_id}"
            else:
                if cursor.execute(sql.consume_wait, (stamp, wait.id)).rowcount != 1:
                    continue
                key = f"resume:{wait.id}"
            jobs.append(
                resume_job(
                    wait,
                    trigger_type=intake.subtype,
                    event_id=intake.event_id,
                    payload=intake.payload,
                    idempotency_key=key,
                )
            )
        return jobs


class OpenWait(NamedTuple):
    """A wait as phase 0 reads it."""

    id: str
    tenant_id: str | None
    workflow_id: str | None
    workflow_run_id: str
    multi_use: bool
    payload_schema: Any
    created_at: Any


def resume_job(
    wait: Any, *, trigger_type: str, event_id: str, payload: dict[str, Any], idempotency_key: str
) -> DispatchJob:
    """A resume of ``wait`` (a row with id, tenant_id, workflow_id, workflow_run_id)."""
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
    )


def dispatch_rows(
    jobs: list[DispatchJob], now: datetime, *, leased_until: datetime | None
) -> list[dict[str, Any]]:
    """Rows for ``insert(DISPATCHES)`` off the hot path: leased to this replica, or pending."""
    status = "pending" if leased_until is None else "delivering"
    return [
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


def check_payload(wait_id: str, schema: dict[str, Any], payload: dict[str, Any]) -> None:
    """400 ``INVALID_PAYLOAD`` naming the first violation when ``payload`` fails ``schema``."""
    error = best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(payload))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise HTTPError(
            400,
            "INVALID_PAYLOAD",
            f"the payload does not match the schema of wait {wait_id}: {where}: {error.message}",
            extra={"wait_id": wait_id},
        )


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    return validator_for(schema)(schema)


def _start_job(intake: Intake, trigger: BaseTrigger) -> DispatchJob:
    return DispatchJob(
        id=new_id(),
        kind="start",
        mode=trigger.on_fire,
        workflow_id=trigger.workflow_id,
        execution_id=None,
        trigger_id=trigger.id,
        wait_id=None,
        tenant_id=trigger.tenant_id,
        trigger_type=intake.subtype,
        event_id=intake.event_id,
        payload=intake.payload,
        idempotency_key=f"start:{trigger.id}:{intake.dedup_key or intake.event_id}",
    )
