"""Supervised background tasks: restarts with capped backoff, health, the loop watchdog."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from itertools import pairwise
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from highway_triggers.core.tasks import Tasks

pytestmark = pytest.mark.timeout(10)  # a supervisor bug tends to hang the loop

LOGGER = "highway_triggers.tasks"
SLACK = 0.01
"""Seconds a sleep may seem short by (timer and clock resolution)."""


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog on the tasks logger itself: the app's logging setup may stop propagation."""
    logger = logging.getLogger(LOGGER)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    logger.addHandler(caplog.handler)
    propagate, logger.propagate = logger.propagate, False
    yield caplog
    logger.propagate = propagate
    logger.removeHandler(caplog.handler)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def crashing(
    times: int, *, then: Callable[[], Awaitable[None]] | None = None
) -> tuple[Callable[[], Awaitable[None]], list[float]]:
    """A factory that raises ``times`` times, then runs ``then`` (default: forever).

    Also the loop time of each call.
    """
    starts: list[float] = []

    async def factory() -> None:
        starts.append(asyncio.get_running_loop().time())
        if len(starts) <= times:
            raise ValueError(f"boom {len(starts)}")
        await (then() if then is not None else asyncio.Event().wait())

    return factory, starts


def failures(registry: CollectorRegistry, task: str) -> float | None:
    return registry.get_sample_value("highway_task_failures_total", {"task": task})


def test_a_crashing_task_is_restarted_with_backoff(logs: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        tasks = Tasks(registry, initial_backoff=0.05, max_backoff=1.0)
        factory, starts = crashing(2)
        tasks.spawn("imap", factory)
        await until(lambda: len(starts) == 3)
        await asyncio.sleep(0.2)
        assert len(starts) == 3
        health = tasks.health()["imap"]
        assert health["state"] == "running"
        assert health["failures"] == 2 and health["restarts"] == 2
        assert health["last_error"] == "ValueError: boom 2"
        assert health["last_failure_at"] is not None and "T" in health["last_failure_at"]
        gaps = [b - a for a, b in pairwise(starts)]
        assert gaps[0] >= 0.05 - SLACK and gaps[1] >= 0.1 - SLACK, gaps
        await tasks.stop()

    run(main)
    assert failures(registry, "imap") == 2
    errors = [r for r in logs.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all("imap" in r.getMessage() and r.exc_info is not None for r in errors)
    assert "boom 1" in logs.text and "Traceback" in logs.text


def test_the_backoff_is_capped() -> None:
    async def main() -> None:
        tasks = Tasks(CollectorRegistry(), initial_backoff=0.05, max_backoff=0.1)
        factory, starts = crashing(4)
        tasks.spawn("poller", factory)
        await until(lambda: len(starts) == 5)
        gaps = [b - a for a, b in pairwise(starts)]
        assert all(gap >= expected - SLACK for gap, expected in zip(gaps, [0.05, 0.1, 0.1, 0.1]))
        assert gaps[3] < 0.3, gaps  # uncapped it would be 0.4
        assert tasks.health()["poller"]["restarts"] == 4
        await tasks.stop()

    run(main)


def test_the_backoff_starts_afresh_after_a_long_run() -> None:
    async def main() -> None:
        tasks = Tasks(CollectorRegistry(), initial_backoff=0.05, max_backoff=0.3)
        ended: list[float] = []

        async def long_run_then_crash() -> None:
            await asyncio.sleep(0.35)
            ended.append(asyncio.get_running_loop().time())
            raise ValueError("after a long run")

        factory, starts = crashing(3, then=long_run_then_crash)  # waits 0.05, 0.1, 0.2
        tasks.spawn("calendar", factory)
        await until(lambda: len(starts) == 5)
        assert starts[4] - ended[0] >= 0.05 - SLACK
        assert starts[4] - ended[0] < 0.2  # without the reset it would be 0.3
        await tasks.stop()

    run(main)


def test_a_task_that_returns_is_finished_and_not_restarted() -> None:
    calls: list[int] = []

    async def once() -> None:
        calls.append(1)

    async def main() -> None:
        tasks = Tasks(CollectorRegistry(), initial_backoff=0.01)
        tasks.spawn("once", once)
        await until(lambda: tasks.health()["once"]["state"] == "finished")
        await asyncio.sleep(0.1)
        assert len(calls) == 1
        assert tasks.health()["once"] == {
            "state": "finished",
            "restarts": 0,
            "failures": 0,
            "last_error": None,
            "last_failure_at": None,
        }

    run(main)


def test_a_task_without_restart_that_raises_is_failed(logs: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        tasks = Tasks(registry, initial_backoff=0.01)
        factory, starts = crashing(1)
        tasks.spawn("one-shot", factory, restart=False)
        await until(lambda: tasks.health()["one-shot"]["state"] != "running")
        await asyncio.sleep(0.1)
        assert len(starts) == 1
        health = tasks.health()["one-shot"]
        assert health["state"] == "failed"
        assert (health["failures"], health["restarts"]) == (1, 0)
        assert health["last_error"] == "ValueError: boom 1"

    run(main)
    assert failures(registry, "one-shot") == 1
    [error] = [r for r in logs.records if r.levelno == logging.ERROR]
    assert error.exc_info is not None and "one-shot" in error.getMessage()


def test_a_blocked_loop_is_logged_and_counted(logs: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        tasks = Tasks(registry)
        tasks.start()
        await asyncio.sleep(0.1)
        time.sleep(0.5)  # blocks the loop
        await asyncio.sleep(0.1)
        assert tasks.blocked_count == 1
        await tasks.stop()

    run(main)
    assert registry.get_sample_value("highway_event_loop_blocked_total") == 1
    [warning] = [r for r in logs.records if r.levelno == logging.WARNING]
    assert warning.name == LOGGER
    message = warning.getMessage()
    assert "blocked for 0." in message and "longer than 0.2 s" in message, message


def test_a_loop_that_is_not_blocked_logs_nothing(logs: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        tasks = Tasks(registry)
        tasks.start()
        for _ in range(10):
            time.sleep(0.01)  # short stalls under the threshold
            await asyncio.sleep(0.04)
        assert tasks.blocked_count == 0
        await tasks.stop()

    run(main)
    assert registry.get_sample_value("highway_event_loop_blocked_total") == 0
    assert not logs.records, logs.text


def test_run_blocking_uses_another_thread_and_does_not_block_the_loop(
    logs: pytest.LogCaptureFixture,
) -> None:
    def blocking(seconds: float, *, tag: str) -> tuple[int, str]:
        time.sleep(seconds)
        return threading.get_ident(), tag

    async def main() -> None:
        tasks = Tasks(CollectorRegistry())
        tasks.start()
        await asyncio.sleep(0.1)
        ident, tag = await tasks.run_blocking(blocking, 0.5, tag="imap")
        assert tag == "imap"
        assert ident != threading.get_ident()
        await asyncio.sleep(0.1)
        assert tasks.blocked_count == 0
        await tasks.stop()

    run(main)
    assert not logs.records, logs.text


def test_stop_cancels_every_task_and_the_watchdog() -> None:
    async def main() -> None:
        tasks = Tasks(CollectorRegistry(), initial_backoff=10.0)
        forever, forever_starts = crashing(0)
        retrying, retrying_starts = crashing(5)
        tasks.spawn("forever", forever)
        tasks.spawn("retrying", retrying)
        tasks.start()
        await until(lambda: tasks.health()["retrying"]["state"] == "restarting")
        assert tasks.health()["forever"]["state"] == "running"
        await tasks.stop()
        assert {h["state"] for h in tasks.health().values()} == {"cancelled"}
        assert len(forever_starts) == 1 and len(retrying_starts) == 1
        time.sleep(0.3)  # no watchdog left to see this
        await asyncio.sleep(0.1)
        assert tasks.blocked_count == 0

    run(main)


def test_cancel_stops_one_task() -> None:
    async def main() -> None:
        tasks = Tasks(CollectorRegistry())
        first, _ = crashing(0)
        second, _ = crashing(0)
        tasks.spawn("first", first)
        tasks.spawn("second", second)
        await asyncio.sleep(0.05)
        await tasks.cancel("first")
        await asyncio.sleep(0.05)
        assert tasks.health()["first"]["state"] == "cancelled"
        assert tasks.health()["second"]["state"] == "running"
        await tasks.stop()

    run(main)


def test_a_task_cancelled_before_it_ran_is_cancelled() -> None:
    async def main() -> None:
        tasks = Tasks(CollectorRegistry())
        factory, starts = crashing(0)
        tasks.spawn("early", factory)
        await tasks.cancel("early")
        assert starts == []
        assert tasks.health()["early"]["state"] == "cancelled"

    run(main)


def test_a_live_name_cannot_be_spawned_twice() -> None:
    calls: list[int] = []

    async def once() -> None:
        calls.append(1)

    async def main() -> None:
        tasks = Tasks(CollectorRegistry())
        factory, _ = crashing(0)
        tasks.spawn("watcher", factory)
        with pytest.raises(ValueError, match="watcher"):
            tasks.spawn("watcher", once)
        await tasks.cancel("watcher")
        tasks.spawn("watcher", once)  # the name is free again once the task has ended
        await until(lambda: tasks.health()["watcher"]["state"] == "finished")
        assert len(calls) == 1

    run(main)
