"""The APScheduler adapters: the heap job store and the executor that passes run times."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from highway_triggers_cron.aps import HeapJobStore, SlotExecutor

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def job(job_id: str, seconds: float | None) -> Any:
    return SimpleNamespace(
        id=job_id, next_run_time=None if seconds is None else T0 + timedelta(seconds=seconds)
    )


def test_heap_job_store_orders_due_jobs_by_time_then_id() -> None:
    store = HeapJobStore()
    for job_id, seconds in [("c", 1), ("b", 1), ("a", 2), ("d", 5), ("paused", None)]:
        store.add_job(job(job_id, seconds))
    assert [j.id for j in store.get_due_jobs(T0 + timedelta(seconds=2))] == ["b", "c", "a"]
    assert store.get_next_run_time() == T0 + timedelta(seconds=1)

    moved = job("b", 10)
    store.update_job(moved)
    store.remove_job("c")
    assert [j.id for j in store.get_due_jobs(T0 + timedelta(seconds=5))] == ["a", "d"]
    assert store.first_job().id == "a" and len(store) == 4
    assert [j.id for j in store.get_all_jobs()] == ["a", "d", "b", "paused"]
    assert store.lookup_job("b") is moved and store.lookup_job("c") is None


def test_heap_job_store_drops_stale_entries_once_they_outnumber_live_ones() -> None:
    store = HeapJobStore()
    store.add_job(job("kept", 1))
    for n in range(3000):
        store.add_job(job(f"gone-{n}", 100 + n))
        store.remove_job(f"gone-{n}")
    assert len(store) == 1 and len(store._heap) <= 2 + 1024
    assert [j.id for j in store.get_due_jobs(T0 + timedelta(days=1))] == ["kept"]


def test_slot_executor_passes_the_due_run_times() -> None:
    received: list[tuple[Any, ...]] = []

    async def func(*args: Any) -> None:
        received.append(args)

    async def run() -> None:
        tasks: set[asyncio.Task[None]] = set()
        executor = SlotExecutor(tasks)
        executor.start(SimpleNamespace(_create_lock=threading.RLock), "default")
        submitted = SimpleNamespace(id="j", func=func, args=("t1",), max_instances=1)
        for due in ([T0, T0 + timedelta(seconds=1)], [T0 + timedelta(seconds=2)]):
            executor.submit_job(submitted, due)  # refused if the first run were still counted
            assert len(tasks) == 1
            await asyncio.gather(*tasks)

    asyncio.run(run())
    assert received == [("t1", T0, T0 + timedelta(seconds=1)), ("t1", T0 + timedelta(seconds=2))]
