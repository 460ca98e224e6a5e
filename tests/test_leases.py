"""Leases: one holder at a time, takeover after a holder is killed, and run_while_held."""

from __future__ import annotations

import asyncio
import os
import random
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from highway_triggers.core.leases import Leases, new_replica_id
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.migrate import upgrade
from highway_triggers.db.models import Lease
from highway_triggers.testing import wait_until

LEASES: sa.Table = Lease.__table__  # type: ignore[attr-defined]
NAME = "imap:inbox@example.org"

HOLDER_SCRIPT = """
import asyncio, sys

from highway_triggers.core.leases import Leases
from highway_triggers.db.database import Database


async def main() -> None:
    url, name, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])

    async def work() -> None:
        print("held", flush=True)
        await asyncio.Event().wait()

    await Leases(Database(url), "A").run_while_held(name, ttl, work)


asyncio.run(main())
"""


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    try:
        upgrade(database, [])
        yield database
    finally:
        database.close()


def lease_row(db: Database) -> sa.Row[Any] | None:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(LEASES).where(LEASES.c.name == NAME)).one_or_none()


def set_row(db: Database, **values: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(LEASES).where(LEASES.c.name == NAME).values(**values))


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        await asyncio.sleep(0.01)


def test_acquire_renew_release_and_holder(db: Database) -> None:
    async def scenario() -> None:
        a, b = Leases(db, "a"), Leases(db, "b")
        assert a.replica_id == "a"
        assert await a.holder(NAME) is None and a.held() == {}

        before = utcnow()
        assert await a.acquire(NAME, 30)
        expiry = a.held()[NAME]
        assert before + timedelta(seconds=30) <= expiry <= utcnow() + timedelta(seconds=30)
        assert await b.holder(NAME) == "a"
        row = lease_row(db)
        assert row is not None and row.holder == "a" and row.expires_at == expiry

        assert not await b.acquire(NAME, 30), "held by another replica"
        assert not await b.renew(NAME, 30)
        await b.release(NAME)  # not b's: nothing happens
        assert await b.holder(NAME) == "a" and b.held() == {}

        assert await a.renew(NAME, 60)
        assert a.held()[NAME] >= expiry + timedelta(seconds=30)
        assert await a.acquire(NAME, 30), "a lease already ours is extended"
        again = lease_row(db)
        assert again is not None and again.acquired_at == row.acquired_at

        await a.release(NAME)
        assert await a.holder(NAME) is None and a.held() == {}
        assert not await a.renew(NAME, 30), "a released lease is not renewed"
        assert await b.acquire(NAME, 30)
        assert await a.holder(NAME) == "b" and set(b.held()) == {NAME}

    asyncio.run(scenario())


def test_an_expired_lease_is_free(db: Database) -> None:
    async def scenario() -> None:
        a, b = Leases(db, "a"), Leases(db, "b")
        assert await b.acquire(NAME, 0.5)
        expiry = b.held()[NAME]
        await asyncio.sleep((expiry - utcnow()).total_seconds() + 0.05)
        assert b.held() == {} and await a.holder(NAME) is None
        assert not await b.renew(NAME, 30), "a lease that ran out is acquired, not renewed"

        taken = utcnow()
        assert await a.acquire(NAME, 30)
        assert await b.holder(NAME) == "a"
        row = lease_row(db)
        assert row is not None and row.acquired_at >= taken
        assert not await b.acquire(NAME, 30)

    asyncio.run(scenario())


def test_new_replica_ids_are_distinct() -> None:
    first, second = new_replica_id(), new_replica_id()
    assert first != second
    assert first.startswith(f"{socket.gethostname()}:{os.getpid()}:")


def read_line(process: subprocess.Popen[str], errors: Path, timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().strip() if ready else ""
    assert line, f"no line from the holder within {timeout}s:\n{errors.read_text()}"
    return line


def test_a_killed_holder_is_taken_over_once_its_lease_runs_out(
    db: Database, database_url: str, bytecode_env: dict[str, str], tmp_path: Path
) -> None:
    ttl = 1.5
    errors = tmp_path / "holder.err"
    b = Leases(db, "B")
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-c", HOLDER_SCRIPT, database_url, NAME, str(ttl)],
            env={**os.environ, **bytecode_env},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        try:
            assert read_line(process, errors, timeout=60) == "held"
            assert asyncio.run(b.holder(NAME)) == "A"

            def just_renewed() -> bool:  # so that most of the TTL lies ahead at the kill
                row = lease_row(db)
                return row is not None and row.expires_at - utcnow() > timedelta(seconds=ttl - 0.4)

            wait_until(just_renewed, timeout=10, interval=0.01)
        finally:
            process.kill()
            killed = time.monotonic()
    assert process.returncode == -9
    row = lease_row(db)
    assert row is not None and row.holder == "A"

    async def take_over() -> datetime:
        assert not await b.acquire(NAME, 30), "taken while the killed holder's lease still ran"
        while time.monotonic() < killed + ttl + 1:
            if await b.acquire(NAME, 30):
                return utcnow()
            await asyncio.sleep(0.02)
        raise AssertionError(f"not taken over within {ttl + 1}s of the kill")

    taken = asyncio.run(take_over())
    assert taken >= row.expires_at, "taken before the old lease ran out"
    assert asyncio.run(b.holder(NAME)) == "B"


def test_contenders_never_hold_the_lease_at_once(database_url: str, db: Database) -> None:
    databases = [Database(database_url) for _ in range(4)]  # each races on its own connections
    intervals: list[tuple[str, datetime, datetime]] = []

    async def contend(leases: Leases, rng: random.Random, stop: float) -> None:
        while time.monotonic() < stop:
            if await leases.acquire(NAME, 0.3):
                start = utcnow()
                expiry = leases.held().get(NAME)  # None when it ran out meanwhile
                await asyncio.sleep(rng.uniform(0.0, 0.45))  # at times past the expiry
                end = utcnow()
                if expiry is not None:
                    intervals.append((leases.replica_id, start, min(end, expiry)))
                if rng.random() < 0.6:
                    await leases.release(NAME)
            await asyncio.sleep(rng.uniform(0.0, 0.02))

    async def race() -> None:
        stop = time.monotonic() + 2
        await asyncio.gather(
            *(
                contend(Leases(database, f"r{n}"), random.Random(n), stop)
                for n, database in enumerate(databases)
            )
        )

    try:
        asyncio.run(race())
    finally:
        for database in databases:
            database.close()

    ordered = sorted(intervals, key=lambda interval: interval[1])
    for (first, _, first_end), (second, second_start, _) in zip(ordered, ordered[1:]):
        assert second_start >= first_end, (
            f"{second} took the lease at {second_start} while {first} held it until {first_end}"
        )
    assert len({holder for holder, _, _ in intervals}) > 1, intervals
    assert len(intervals) >= 4, intervals


class Work:
    """A watcher's work: records each start and cancellation, runs until cancelled."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    async def __call__(self) -> None:
        self.runs.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.runs.append("cancelled")
            raise


def test_run_while_held_works_only_while_holding(db: Database) -> None:
    async def scenario() -> None:
        other, me, work = Leases(db, "other"), Leases(db, "me"), Work()
        ttl = 1.5  # attempts and renewals every 0.5 s
        assert await other.acquire(NAME, 30)
        task = asyncio.create_task(me.run_while_held(NAME, ttl, work))
        await asyncio.sleep(0.6)
        assert work.runs == [] and await me.holder(NAME) == "other"

        await other.release(NAME)
        await eventually(lambda: work.runs == ["started"])
        assert await me.holder(NAME) == "me" and NAME in me.held()
        await asyncio.sleep(ttl + 0.3)
        assert work.runs == ["started"], "renewals keep the work running past the TTL"
        assert await me.holder(NAME) == "me"

        await db.call(set_row, db, holder="thief", expires_at=utcnow() + timedelta(seconds=30))
        await eventually(lambda: work.runs == ["started", "cancelled"])
        assert not task.done() and NAME not in me.held()
        assert await me.holder(NAME) == "thief", "the stolen lease is left to the thief"

        await db.call(set_row, db, expires_at=utcnow())
        await eventually(lambda: work.runs == ["started", "cancelled", "started"])
        assert await me.holder(NAME) == "me"

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert work.runs[-1] == "cancelled"
        assert await me.holder(NAME) is None and me.held() == {}

    asyncio.run(scenario())


def test_a_failing_renewal_stops_the_work(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        me, work = Leases(db, "me"), Work()

        async def unreachable(name: str, ttl_seconds: float) -> bool:
            raise OSError("database unreachable")

        monkeypatch.setattr(me, "renew", unreachable)
        task = asyncio.create_task(me.run_while_held(NAME, 0.6, work))
        await eventually(lambda: work.runs[:2] == ["started", "cancelled"])
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await me.holder(NAME) is None

    asyncio.run(scenario())


def test_run_while_held_ends_with_its_work_and_releases(db: Database) -> None:
    async def scenario() -> None:
        me = Leases(db, "me")
        seen: list[str | None] = []

        async def finishes() -> None:
            seen.append(await me.holder(NAME))

        async def fails() -> None:
            raise RuntimeError("watcher crashed")

        await me.run_while_held(NAME, 30, finishes)
        assert seen == ["me"] and await me.holder(NAME) is None
        with pytest.raises(RuntimeError, match="watcher crashed"):
            await me.run_while_held(NAME, 30, fails)
        assert await me.holder(NAME) is None and me.held() == {}

    asyncio.run(scenario())
