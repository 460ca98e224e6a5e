"""Supervised background tasks: named, restarted with backoff, and a blocked-loop watchdog.

Plugins start their long-lived coroutines (watchers, pollers, housekeeping) here instead of
with ``asyncio.create_task``, so a crash is logged, counted and retried, and shows in
:meth:`Tasks.health`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter

P = ParamSpec("P")
T = TypeVar("T")

State = Literal["running", "restarting", "finished", "failed", "cancelled"]

BLOCKING_THREADS = 32
"""Threads of :meth:`Tasks.run_blocking`: its own pool, so that long blocking calls (an
IMAP IDLE) never take the threads the gateway's database calls run on."""
WATCHDOG_INTERVAL = 0.05
"""Seconds the watchdog sleeps between checks of how late the loop woke it."""

_log = logging.getLogger("highway_triggers.tasks")


@dataclass
class _Entry:
    task: asyncio.Task[None] = field(init=False)
    state: State = "running"
    restarts: int = 0
    failures: int = 0
    last_error: str | None = None
    last_failure_at: str | None = None

    def ended(self, task: asyncio.Task[None]) -> None:
        """Done callback: a task cancelled at any point (even before it ran) is "cancelled"."""
        if task.cancelled():
            self.state = "cancelled"


class Tasks:
    """Named background tasks that are restarted with capped exponential backoff.

    A failed run waits ``initial_backoff * 2**(n-1)`` seconds (at most ``max_backoff``)
    before the n-th consecutive restart; a run that lasted longer than ``max_backoff``
    starts the count afresh. A watchdog logs when the loop was blocked past
    ``block_threshold`` seconds.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        block_threshold: float = 0.2,
    ) -> None:
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._block_threshold = block_threshold
        self._entries: dict[str, _Entry] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._threads: ThreadPoolExecutor | None = None
        self.blocked_count = 0
        """Times the watchdog saw the loop blocked past the threshold."""
        self._failures = Counter(
            "highway_task_failures",
            "Background task runs that raised, per task.",
            ["task"],
            registry=registry,
        )
        self._blocked = Counter(
            "highway_event_loop_blocked",
            "Times the event loop was blocked longer than the threshold.",
            registry=registry,
        )

    def start(self) -> None:
        """Start the loop watchdog; call on the running loop. Does nothing if started."""
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(
                self._watch(), name="highway-tasks-watchdog"
            )

    async def stop(self) -> None:
        """Cancel every task and the watchdog and wait until they have ended."""
        tasks = [entry.task for entry in self._entries.values()]
        if self._watchdog is not None:
            tasks.append(self._watchdog)
            self._watchdog = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    def spawn(
        self, name: str, factory: Callable[[], Awaitable[None]], *, restart: bool = True
    ) -> None:
        """Run ``factory()`` now as the task ``name``, supervised; needs a running loop.

        If it raises, the failure is logged and counted and (``restart``) ``factory()`` is
        called again after the backoff; if it returns, the task is finished. Raises
        :class:`ValueError` if a task of that name is still live.
        """
        current = self._entries.get(name)
        if current is not None and not current.task.done():
            raise ValueError(f"a task named {name!r} is already running")
        entry = _Entry()
        entry.task = asyncio.get_running_loop().create_task(
            self._supervise(name, entry, factory, restart), name=name
        )
        entry.task.add_done_callback(entry.ended)
        self._entries[name] = entry

    async def cancel(self, name: str) -> None:
        """Stop the task ``name`` (and its pending restarts) and wait until it has ended.

        Raises :class:`KeyError` for a name that was never spawned.
        """
        task = self._entries[name].task
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def run_blocking(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, so the event loop is not blocked.

        The threads are the supervisor's own (:data:`BLOCKING_THREADS`), not the ones the
        gateway's database calls use; still keep each call bounded (an IMAP IDLE with a
        timeout): cancelling the caller does not stop its thread.
        """
        if self._threads is None:
            self._threads = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="highway-task")
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    def health(self) -> dict[str, dict[str, Any]]:
        """Per task name: state, restarts, failures, last error and when it last failed."""
        return {
            name: {
                "state": entry.state,
                "restarts": entry.restarts,
                "failures": entry.failures,
                "last_error": entry.last_error,
                "last_failure_at": entry.last_failure_at,
            }
            for name, entry in self._entries.items()
        }

    async def _supervise(
        self, name: str, entry: _Entry, factory: Callable[[], Awaitable[None]], restart: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        backoff: float | None = None
        while True:
            started = loop.time()
            try:
                await factory()
            except Exception as exc:
                entry.failures += 1
                entry.last_error = f"{type(exc).__name__}: {exc}"
                entry.last_failure_at = datetime.now(UTC).isoformat()
                self._failures.labels(task=name).inc()
                if not restart:
                    _log.exception("task %s failed", name)
                    entry.state = "failed"
                    return
                long_run = loop.time() - started > self._max_backoff
                backoff = min(
                    self._initial_backoff if long_run or backoff is None else backoff * 2,
                    self._max_backoff,
                )
                _log.exception("task %s failed; restarting in %.2f s", name, backoff)
                entry.state = "restarting"
                await asyncio.sleep(backoff)
                entry.restarts += 1
                entry.state = "running"
            else:
                entry.state = "finished"
                return

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + WATCHDOG_INTERVAL
            await asyncio.sleep(WATCHDOG_INTERVAL)
            late = loop.time() - due
            if late > self._block_threshold:
                self.blocked_count += 1
                self._blocked.inc()
                _log.warning(
                    "event loop blocked for %.2f s (longer than %g s)",
                    late,
                    self._block_threshold,
                )
