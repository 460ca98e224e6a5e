"""The slot claim: inserted once per ``(trigger_id, scheduled_at)``, only for the active
trigger version, in the fire's own transaction; never an error for an expected refusal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from highway_triggers_cron import claims
from highway_triggers_cron.claims import CLAIMS, TRIGGERS, ClaimSQL, SlotClaim
from sqlalchemy import func, insert, select, update

from highway_triggers.core.plugins import load_plugins
from highway_triggers.db import migrate
from highway_triggers.db.database import Database

SLOT = datetime(2030, 1, 1, 9, tzinfo=UTC)
CONFIG = {"cron_expression": "0 9 * * *", "timezone": "UTC", "enabled": True}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate.upgrade(database, load_plugins().migration_locations())
    with database.engine.begin() as conn:
        conn.execute(insert(TRIGGERS), [trigger_row("t1"), trigger_row("t2")])
    yield database
    database.close()


def trigger_row(trigger_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": trigger_id,
        "workflow_id": "wf",
        "trigger_subtype": "CRON",
        "trigger_config": CONFIG,
        "index_key": CONFIG["cron_expression"],
        "deployment_status": "DEPLOYED",
        "origin": "api",
        "revision": 5,
        "created_at": now,
        "updated_at": now,
    }


def claim(db: Database, trigger_id: str, revision: int, slot: datetime) -> SlotClaim:
    slot_claim = SlotClaim(ClaimSQL(db.dialect), trigger_id, revision, slot)
    with db.engine.begin() as conn:
        assert slot_claim(conn) is (slot_claim.refusal is None)
    return slot_claim


def test_a_slot_is_claimed_once(db: Database) -> None:
    assert claim(db, "t1", 5, SLOT).refusal is None
    assert claim(db, "t1", 5, SLOT).refusal == "lost_claim"
    assert claim(db, "t2", 5, SLOT).refusal is None  # another trigger, same slot
    assert claim(db, "t1", 5, SLOT + timedelta(days=1)).refusal is None


def test_a_claim_for_a_version_no_longer_active_is_refused(db: Database) -> None:
    assert claim(db, "t1", 4, SLOT).refusal == "inactive"  # an older revision
    with db.engine.begin() as conn:
        paused = {**CONFIG, "enabled": False}
        conn.execute(
            update(TRIGGERS).where(TRIGGERS.c.id == "t1").values(trigger_config=paused, revision=6)
        )
    assert claim(db, "t1", 5, SLOT).refusal == "paused"
    with db.engine.begin() as conn:
        conn.execute(
            update(TRIGGERS).where(TRIGGERS.c.id == "t2").values(deployment_status="UNDEPLOYED")
        )
    assert claim(db, "t2", 5, SLOT).refusal == "inactive"
    assert claim(db, "gone", 1, SLOT).refusal == "inactive"


def test_a_claim_commits_or_rolls_back_with_its_transaction(db: Database) -> None:
    slot_claim = SlotClaim(ClaimSQL(db.dialect), "t1", 5, SLOT)
    with pytest.raises(RuntimeError), db.engine.begin() as conn:
        assert slot_claim(conn)
        raise RuntimeError("the dispatch rows failed")
    assert claim(db, "t1", 5, SLOT).refusal is None


@pytest.mark.postgres
def test_concurrent_claims_on_postgresql_one_wins_none_fails(postgres_url: str) -> None:
    database = Database(postgres_url)
    migrate.upgrade(database, load_plugins().migration_locations())
    with database.engine.begin() as conn:
        conn.execute(insert(TRIGGERS), [trigger_row("t1")])
    outcomes: list[str | None] = []
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        outcomes.append(claim(database, "t1", 5, SLOT).refusal)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database.close()
    assert sorted(outcomes, key=str) == [None] + ["lost_claim"] * 7


def test_restore_points_last_runs_and_prune(db: Database) -> None:
    for days in (0, 1, 10, 11):
        claim(db, "t1", 5, SLOT - timedelta(days=days))
    claim(db, "t2", 5, SLOT - timedelta(days=20))
    with db.engine.begin() as conn:
        conn.execute(insert(TRIGGERS), [trigger_row("t3")])
        points = claims.restore_points(conn)
        activated = select(TRIGGERS.c.updated_at).where(TRIGGERS.c.id == "t3")
        assert points == {
            "t1": SLOT,
            "t2": SLOT - timedelta(days=20),
            "t3": conn.execute(activated).scalar(),  # never fired: since it became active
        }
        last = claims.last_runs(conn, ["t1", "t2", "t3"])
        assert set(last) == {"t1", "t2"} and last["t1"][0] == SLOT
        assert claims.prune(conn, SLOT - timedelta(days=5)) == 2  # t2 keeps its latest
        remaining = conn.execute(
            select(CLAIMS.c.trigger_id, func.count()).group_by(CLAIMS.c.trigger_id)
        )
        assert dict(remaining.all()) == {"t1": 2, "t2": 1}
