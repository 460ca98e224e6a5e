"""The scheduler of one gateway: every enabled CRON trigger as a job of an APScheduler
``AsyncIOScheduler`` in the gateway's event loop, fired through a slot claim."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry
from sqlalchemy import Connection

from highway_triggers.plugin import Database, GatewayContext, Tasks, TriggerLookup, utcnow
from highway_triggers_cron import claims
from highway_triggers_cron.aps import HeapJobStore, SlotExecutor, Slots, jitter_key
from highway_triggers_cron.catchup import plan_restore
from highway_triggers_cron.claims import ClaimSQL, SlotClaim
from highway_triggers_cron.metrics import CronMetrics
from highway_triggers_cron.settings import CronSettings
from highway_triggers_cron.timetable import iso_utc

if TYPE_CHECKING:
    from highway_triggers_cron.trigger import CronTrigger

log = logging.getLogger(__name__)
_aps_log = logging.getLogger(f"{__name__}.apscheduler")
_aps_log.setLevel(logging.WARNING)  # APScheduler logs every added job at INFO
PRUNE_SECONDS = 3600
PRUNE_TASK = "cron-prune"
STOP_SECONDS = 10
RESTORE_CHUNK = 1000
RETRY_SECONDS = 0.25
"""The wait before a failed fire is tried again; doubled after each failure."""
RETRY_MAX_SECONDS = 30.0
T = TypeVar("T")


def scheduler_of(context: GatewayContext) -> Scheduler:
    """The gateway's scheduler, kept in its context and made on first use: triggers start
    before the start-up hook."""
    return context.state(
        Scheduler,
        lambda: Scheduler(
            context.database,
            context.metrics,
            context.triggers,
            context.tasks,
            context.plugin_settings(CronSettings),
        ),
    )


class Scheduler:
    """Schedules enabled CRON triggers and fires each due slot through its claim.

    Triggers started before :meth:`start` (the ones restored with the gateway) wait for
    it, which catches up what they missed; later ones are scheduled from now on. It holds
    the parts of the gateway it uses (database, trigger lookup, tasks), and its triggers
    while they are scheduled.
    """

    def __init__(
        self,
        db: Database,
        registry: CollectorRegistry,
        triggers: TriggerLookup,
        tasks: Tasks,
        settings: CronSettings,
    ) -> None:
        self.clock: Callable[[], datetime] = utcnow
        """Now, as an aware UTC datetime; tests may replace it."""
        self.settings = settings
        self.metrics = CronMetrics(registry, lambda: len(self._store))
        self._db = db
        self._sql = ClaimSQL(db.dialect)
        self._triggers = triggers
        self._tasks = tasks
        self._waiting: dict[str, CronTrigger] = {}
        self._jobs: dict[str, tuple[CronTrigger, Slots]] = {}
        self._fires: set[asyncio.Task[None]] = set()
        self._store = HeapJobStore()
        self._aps: AsyncIOScheduler | None = None
        self._pruning = False
        self._closing = False
        self._stopped = asyncio.Event()
        """Set by :meth:`stop`: a fire waiting to be tried again gives up."""

    # triggers ---------------------------------------------------------------------------

    def add(self, trigger: CronTrigger) -> None:
        """Schedule an enabled trigger from now on (or, before :meth:`start`, from its last fire)."""
        if self._aps is None:
            self._waiting[trigger.id] = trigger
            return
        slots = schedule_slots(trigger)
        self._schedule(trigger, slots, slots.first_after(self.clock() - slots.jitter))

    def remove(self, trigger_id: str) -> None:
        """Drop the trigger's job; a fire already under way is refused at claim time if its
        trigger version is no longer active."""
        self._waiting.pop(trigger_id, None)
        if self._jobs.pop(trigger_id, None) is not None and self._aps is not None:
            with suppress(JobLookupError):
                self._aps.remove_job(trigger_id)

    def health(self) -> dict[str, Any]:
        """For ``/health/detailed``: whether it runs, its job count, and the next fire."""
        job = self._store.first_job()
        return {
            "running": self._aps is not None and not self._closing,
            "jobs": len(self._store),
            "next_fire": None
            if job is None
            else {"schedule_id": job.id, "at": iso_utc(job.next_run_time)},
        }

    # lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the waiting triggers, catching up missed slots, then start APScheduler."""
        since = await self._db.call(self._read, claims.restore_points, self._triggers)
        now = self.clock()
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            jobstores={"default": self._store},
            executors={"default": SlotExecutor(self._fires)},
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 2**31},
            logger=_aps_log,
        )
        catch_ups: list[tuple[CronTrigger, datetime]] = []
        for n, trigger in enumerate(list(self._waiting.values()), 1):
            if self._waiting.pop(trigger.id, None) is not trigger:
                continue  # stopped (or replaced) while restoring
            slots = schedule_slots(trigger)
            if trigger.id not in since:  # activated after the read: from now on
                self._schedule(trigger, slots, slots.first_after(now - slots.jitter))
                continue
            plan = plan_restore(slots, trigger.config.catchup_window, since[trigger.id], now)
            self.metrics.skipped("missed", plan.missed)
            self.metrics.skipped("coalesced", plan.coalesced)
            self._schedule(trigger, slots, plan.first_run)
            if plan.catch_up is not None:
                catch_ups.append((trigger, plan.catch_up))
            if n % RESTORE_CHUNK == 0:
                await asyncio.sleep(0)  # restoring many schedules must not stall the loop
        self._aps.start()
        for trigger, slot in catch_ups:
            self._spawn(self._fire(trigger, slot, due=None))
        self._tasks.spawn(PRUNE_TASK, self._prune)
        self._pruning = True
        log.info("scheduler started: %d schedules, %d caught up", len(self._store), len(catch_ups))

    async def stop(self) -> None:
        """Stop scheduling; wait a little for fires under way (the outbox still takes them)."""
        self._closing = True
        self._stopped.set()
        if self._pruning:
            await self._tasks.cancel(PRUNE_TASK)
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None
        if self._fires:
            await asyncio.wait(self._fires, timeout=STOP_SECONDS)

    # firing -----------------------------------------------------------------------------

    def _schedule(self, trigger: CronTrigger, slots: Slots, first_run: datetime | None) -> None:
        if first_run is None or self._aps is None:
            return  # the schedule has ended (end_at), or the scheduler has stopped
        self._jobs[trigger.id] = (trigger, slots)
        self._aps.add_job(
            self._run,
            slots,
            args=(trigger.id,),
            id=trigger.id,
            name=f"schedule {trigger.id}",
            next_run_time=first_run,
            replace_existing=True,
        )

    async def _run(self, trigger_id: str, *run_times: datetime) -> None:
        """The job of one schedule: fire each of its due slots."""
        job = self._jobs.get(trigger_id)
        if job is None or self._closing:
            return
        trigger, slots = job
        for run_time in run_times:  # several only when the loop was held up
            await self._fire(trigger, slots.slot_of(run_time), due=run_time)

    async def _fire(self, trigger: CronTrigger, slot: datetime, *, due: datetime | None) -> None:
        """Fire ``slot`` if this replica wins its claim; ``due`` is ``None`` for a catch-up.

        A fire that fails (the database away: a failover, a restart) is tried again after
        :data:`RETRY_SECONDS`, doubled up to :data:`RETRY_MAX_SECONDS`, until the slot is
        older than the schedule's catch-up window: the claim and the idempotency key make
        a retry harmless, and a slot is not lost to an outage shorter than the window."""
        claim = SlotClaim(self._sql, self._triggers, trigger, slot)
        give_up, wait = slot + trigger.config.catchup_window, RETRY_SECONDS
        while True:
            try:
                result = await trigger.fire(
                    fire_data(trigger, slot, catch_up=due is None),
                    idempotency_key=f"cron:{trigger.id}:{iso_utc(slot)}",
                    claim=claim,
                )
                break
            except Exception:
                if self._closing:  # a restart's catch-up fires it (see the README's *Restart*)
                    return
                if self.clock() + timedelta(seconds=wait) > give_up:
                    log.exception("schedule %s: the fire for %s failed", trigger.id, iso_utc(slot))
                    self.metrics.skipped("error")
                    return
                log.warning(
                    "schedule %s: the fire for %s failed; trying again in %g s",
                    trigger.id, iso_utc(slot), wait, exc_info=True,
                )  # fmt: skip
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
        if result.duplicate or result.refused:
            self.metrics.skipped(claim.refusal or "lost_claim")
        else:
            self.metrics.fired(None if due is None else (self.clock() - due).total_seconds())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._fires.add(task)
        task.add_done_callback(self._fires.discard)

    # housekeeping -----------------------------------------------------------------------

    async def _prune(self) -> None:
        """Forget claims past the retention period (each schedule's latest stays); a
        supervised task, so a failure is logged and the loop restarted."""
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            before = self.clock() - timedelta(hours=self.settings.claim_retention_hours)
            await self._db.call(self._write, claims.prune, before)

    def _read(self, query: Callable[[Connection, Any], T], *args: Any) -> T:
        with self._db.engine.connect() as conn:
            return query(conn, *args)

    def _write(self, change: Callable[[Connection, Any], T], *args: Any) -> T:
        with self._db.engine.begin() as conn:
            return change(conn, *args)


def schedule_slots(trigger: CronTrigger) -> Slots:
    """The trigger's run times, its jitter fixed by :func:`~highway_triggers_cron.aps.jitter_key`."""
    key = jitter_key(trigger.tenant_id, trigger.workflow_id, trigger.config)
    return Slots.of(key, trigger.config)


def fire_data(trigger: CronTrigger, slot: datetime, *, catch_up: bool) -> dict[str, Any]:
    """The ``trigger_data`` a fire hands to the workflow."""
    config = trigger.config
    return {
        "schedule_id": trigger.id,
        "cron_expression": config.cron_expression,
        "timezone": config.timezone,
        "scheduled_at": iso_utc(slot),
        "scheduled_local": slot.astimezone(config.timetable.zone).isoformat(),
        "catch_up": catch_up,
    }
