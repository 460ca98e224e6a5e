"""Claiming due dispatches (core/dispatches.py ``claim_due``): never more than the limit, and
claimers running at once never take the same row, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest

from highway_triggers.core.dispatches import DispatchJob, claim_due, insert_jobs
from highway_triggers.core.ids import new_id
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.migrate import upgrade

LEASE = timedelta(seconds=60)


@contextmanager
def migrated(url: str) -> Iterator[Database]:
    database = Database(url, synchronous="NORMAL")
    upgrade(database)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    with migrated(database_url) as database:
        yield database


def add_due(db: Database, count: int) -> set[str]:
    """``count`` pending dispatches, due now; their ids."""
    jobs = [
        DispatchJob(
            id=new_id(),
            kind="start",
            mode="start",
            workflow_id="wf",
            execution_id=None,
            trigger_id=None,
            wait_id=None,
            tenant_id=None,
            trigger_type="MANUAL",
            event_id=f"ev-{i}",
            payload={"i": i},
            idempotency_key=f"key-{i}",
        )
        for i in range(count)
    ]
    with db.engine.begin() as conn:
        insert_jobs(conn, jobs, utcnow() - timedelta(seconds=1), leased_until=None)
    return {job.id for job in jobs}


def test_a_claim_takes_no_more_than_its_limit(db: Database) -> None:
    due = add_due(db, 600)
    claimed: list[str] = []
    for limit in (1, 7, 50, 200):
        jobs = claim_due(db, limit, LEASE)
        assert len(jobs) == limit
        assert all(job.attempts == 1 for job in jobs)
        claimed += [job.id for job in jobs]
    rest = claim_due(db, 1000, LEASE)
    assert len(rest) == 600 - 258
    claimed += [job.id for job in rest]
    assert len(claimed) == len(set(claimed)) and set(claimed) == due
    assert claim_due(db, 10, LEASE) == []  # leased: not due again before the lease ends


def test_a_claim_keeps_its_limit_when_postgresql_thinks_the_table_tiny(postgres_url: str) -> None:
    """Statistics from when the table held one row (a new deployment) make the planner rerun
    an ``IN (… LIMIT n)`` subquery for every row of the update, each run skipping the rows
    updated so far: a claim of 2 took all 12 due rows."""
    with migrated(postgres_url) as db:
        add_due(db, 1)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE dispatches")
        assert len(claim_due(db, 2, LEASE)) == 1  # the one row, leased from now on
        due = add_due(db, 12)
        claims = [claim_due(db, 2, LEASE) for _ in range(7)]
        assert [len(c) for c in claims] == [2] * 6 + [0]
        assert {job.id for c in claims for job in c} == due


def test_claimers_at_once_never_take_the_same_row(db: Database) -> None:
    due, limit = add_due(db, 2000), 25

    def claim_until_empty() -> list[list[str]]:
        claims = []
        while jobs := claim_due(db, limit, LEASE):
            claims.append([job.id for job in jobs])
        return claims

    with ThreadPoolExecutor(4) as pool:
        claims = [
            c for done in [pool.submit(claim_until_empty) for _ in range(4)] for c in done.result()
        ]
    assert max(len(c) for c in claims) <= limit
    ids = [i for c in claims for i in c]
    assert len(ids) == len(set(ids)), "a row was claimed twice"
    assert set(ids) == due
