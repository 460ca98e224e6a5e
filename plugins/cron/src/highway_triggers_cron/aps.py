"""APScheduler adapters: a schedule's fire times as a trigger; an executor that tells each
job which of its run times are due (APScheduler 3 does not pass them to the job); and a
job store whose every operation stays cheap with 100,000 jobs."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.triggers.base import BaseTrigger

from highway_triggers.plugin import hash_jitter
from highway_triggers_cron.config import CronConfig
from highway_triggers_cron.timetable import Timetable


class Slots(BaseTrigger):  # type: ignore[misc]
    """Run times of one schedule: each slot of its timetable plus the schedule's jitter."""

    __slots__ = ("_last", "jitter", "timetable")

    def __init__(self, timetable: Timetable, jitter: timedelta) -> None:
        self.timetable = timetable
        self.jitter = jitter
        self._last: tuple[datetime | None, datetime | None] = (None, None)

    @classmethod
    def of(cls, key: str, config: CronConfig) -> Slots:
        """A schedule's run times: its jitter is fixed by ``key`` (:func:`jitter_key`), the
        same on every replica."""
        return cls(config.timetable, timedelta(seconds=hash_jitter(key, config.jitter_seconds)))

    def slot_of(self, run_time: datetime) -> datetime:
        return run_time - self.jitter

    def first_after(self, instant: datetime) -> datetime | None:
        """The first run time whose slot comes after ``instant``."""
        slot = self.timetable.next_after(instant)
        return None if slot is None else slot + self.jitter

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.first_after(now - self.jitter)
        if self._last[0] != previous_fire_time:  # APScheduler asks twice per run
            self._last = (previous_fire_time, self.first_after(self.slot_of(previous_fire_time)))
        return self._last[1]

    def __str__(self) -> str:
        return f"cron[{self.timetable.expression.text}, {self.timetable.zone.key}]"


class SlotExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs a job's coroutine function as a task with its due run times: ``func(*args, *times)``.

    The tasks under way are kept in ``tasks``, so that shutting down can wait for them.
    """

    def __init__(self, tasks: set[asyncio.Task[None]]) -> None:
        super().__init__()
        self.tasks = tasks

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        task = asyncio.get_running_loop().create_task(job.func(*job.args, *run_times))
        self.tasks.add(task)
        task.add_done_callback(partial(self._finished, job.id))

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            self._run_job_success(job_id, [])
        elif (error := task.exception()) is not None:
            self._run_job_error(job_id, error, error.__traceback__)
        else:
            self._run_job_success(job_id, [])


class HeapJobStore(BaseJobStore):  # type: ignore[misc]
    """Jobs in memory, ordered by a heap: adding, updating and removing a job is O(log n).

    APScheduler's ``MemoryJobStore`` keeps a sorted list, so that each of those shifts
    the list: with 100,000 jobs due in the same second that alone takes seconds. Here an
    update pushes a new heap entry and the old one goes stale; stale entries are dropped
    when they reach the top, or all at once when they outnumber the live ones.
    """

    def __init__(self) -> None:
        super().__init__()
        self._heap: list[tuple[float, int, str]] = []  # (run timestamp, version, job id)
        self._jobs: dict[str, tuple[Any, int]] = {}  # job id -> (job, its live version)
        self._versions = itertools.count()

    def __len__(self) -> int:
        return len(self._jobs)

    def lookup_job(self, job_id: str) -> Any:
        entry = self._jobs.get(job_id)
        return None if entry is None else entry[0]

    def get_due_jobs(self, now: datetime) -> list[Any]:
        """Due jobs by run time, then id: every replica submits a burst in the same order, so
        their transactions take the same locks in the same order. Only the heap's due part
        is walked."""
        limit, heap, due, stack = now.timestamp(), self._heap, [], [0]
        while stack:
            i = stack.pop()
            if i < len(heap) and heap[i][0] <= limit:
                if self._live(heap[i]):
                    due.append(heap[i])
                stack += (2 * i + 1, 2 * i + 2)
        return [self._jobs[job_id][0] for _, _, job_id in sorted(due, key=lambda e: (e[0], e[2]))]

    def get_next_run_time(self) -> datetime | None:
        job = self.first_job()
        next_run_time: datetime | None = None if job is None else job.next_run_time
        return next_run_time

    def first_job(self) -> Any:
        """The job that runs next (``None`` if none will)."""
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return self._jobs[heap[0][2]][0] if heap and heap[0][0] != float("inf") else None

    def get_all_jobs(self) -> list[Any]:
        return [self._jobs[entry[2]][0] for entry in sorted(e for e in self._heap if self._live(e))]

    def add_job(self, job: Any) -> None:
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)
        self._push(job)

    def update_job(self, job: Any) -> None:
        if job.id not in self._jobs:
            raise JobLookupError(job.id)
        self._push(job)

    def remove_job(self, job_id: str) -> None:
        if self._jobs.pop(job_id, None) is None:
            raise JobLookupError(job_id)
        self._compact()

    def remove_all_jobs(self) -> None:
        self._heap, self._jobs = [], {}

    def shutdown(self) -> None:
        self.remove_all_jobs()

    def _push(self, job: Any) -> None:
        version = next(self._versions)
        at = float("inf") if job.next_run_time is None else job.next_run_time.timestamp()
        self._jobs[job.id] = (job, version)
        heapq.heappush(self._heap, (at, version, job.id))
        self._compact()

    def _compact(self) -> None:
        """Rebuild the heap once most of it is stale (jobs removed or moved, not yet due)."""
        if len(self._heap) > 2 * len(self._jobs) + 1024:
            self._heap = [entry for entry in self._heap if self._live(entry)]
            heapq.heapify(self._heap)

    def _live(self, entry: tuple[float, int, str]) -> bool:
        job = self._jobs.get(entry[2])
        return job is not None and job[1] == entry[1]


def jitter_key(tenant_id: str | None, workflow_id: str | None, config: CronConfig) -> str:
    """What fixes a schedule's jitter: its workflow, tenant, expression and zone, which a
    deploy of the workflow again keeps (the trigger's id does not). With a jitter that
    moved, the new trigger's first run could come before the slot its predecessor last
    fired (firing it again: the claims are per trigger) or after one it had not (skipping it)."""
    return f"{tenant_id or ''}/{workflow_id or ''}/{config.cron_expression}/{config.timezone}"
