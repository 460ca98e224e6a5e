"""Housekeeping: dedup rows past the retention period and expired kept events go."""

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from highway_triggers import gateway as gateway_module
from highway_triggers.db.tables import DELIVERIES, DISPATCHES, EARLY_EVENTS
from highway_triggers.db.columns import utcnow
from highway_triggers.testing import (
    RunningGateway,
    gateway_settings,
    running_gateway,
    wait_until,
)


def test_prune_deletes_old_rows_in_chunks_and_keeps_the_rest(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_module, "PRUNE_CHUNK", 5)
    now = utcnow()
    retention = timedelta(hours=gateway.gateway.settings.delivery_retention_hours)
    old, recent = now - retention - timedelta(minutes=1), now - timedelta(minutes=1)
    deliveries = [
        {"source": "EVENT", "delivery_id": f"d{i}", "event_id": f"e{i}", "received_at": when}
        for i, when in enumerate([old] * 12 + [recent] * 3)
    ]
    kept = [
        {
            "id": f"k{i}", "tenant_id": "acme", "event_name": "paid", "correlation_key": f"c{i}",
            "event_id": f"e{i}", "payload": {}, "received_at": now, "expires_at": expires,
        }
        for i, expires in enumerate([now - timedelta(seconds=1)] * 7 + [now + timedelta(hours=1)])
    ]  # fmt: skip
    db = gateway.gateway.db
    with db.engine.begin() as conn:
        conn.execute(insert(DELIVERIES), deliveries)
        conn.execute(insert(EARLY_EVENTS), kept)

    statements: list[str] = []
    write = db.write

    async def counting_write(fn, *args):  # type: ignore[no-untyped-def]
        statements.append(fn.__name__)
        return await write(fn, *args)

    monkeypatch.setattr(db, "write", counting_write)
    assert gateway.run(gateway.gateway.prune()) == 12 + 7
    assert statements.count("_delete_old_rows") >= 3, "a chunk of 5 rows per transaction"
    with db.engine.connect() as conn:
        left = conn.execute(select(DELIVERIES.c.delivery_id)).scalars().all()
        events = conn.execute(select(func.count()).select_from(EARLY_EVENTS)).scalar()
    assert sorted(left) == ["d12", "d13", "d14"]
    assert events == 1


def test_prune_deletes_finished_dispatches_past_their_retention(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_module, "PRUNE_CHUNK", 3)
    settings = gateway.gateway.settings
    now = utcnow()
    past_finished = now - timedelta(hours=settings.dispatch_retention_hours, minutes=1)
    past_dead = now - timedelta(hours=settings.dead_dispatch_retention_hours, minutes=1)
    recent = now - timedelta(minutes=1)
    rows = {
        # id: (status, last attempt); the ones that go start with "x"
        **{f"x-delivered-{i}": ("delivered", past_finished) for i in range(7)},
        "x-skipped": ("skipped", past_finished),
        "x-dead": ("dead", past_dead),
        "delivered-recent": ("delivered", recent),
        "dead-past-finished-only": ("dead", past_finished),  # dead rows are kept longer
        "failed-old": ("failed", past_dead),  # still to be retried
        "pending-old": ("pending", past_dead),
    }
    db = gateway.gateway.db
    with db.engine.begin() as conn:
        conn.execute(
            insert(DISPATCHES),
            [
                {
                    "id": row_id, "kind": "start", "trigger_type": "EVENT", "event_id": row_id,
                    "payload": {"pad": "x" * 100}, "idempotency_key": row_id, "status": status,
                    "next_attempt_at": when, "created_at": when, "updated_at": when,
                }
                for row_id, (status, when) in rows.items()
            ],
        )  # fmt: skip

    assert gateway.run(gateway.gateway.prune()) == 9
    with db.engine.connect() as conn:
        left = set(conn.execute(select(DISPATCHES.c.id)).scalars())
    assert left == {row_id for row_id in rows if not row_id.startswith("x")}


def test_a_plugins_table_is_pruned_while_whole_batches_go_and_then_every_interval(
    tmp_path: Path,
) -> None:
    """context.prune_every_interval: the cutoff is now − retention; a pruner that deleted a
    whole batch is called again at once, else after HIGHWAY_PRUNE_INTERVAL_SECONDS."""
    calls: list[tuple[float, datetime]] = []
    deleted = iter([10, 10, 3])  # two whole batches, then the rest; then nothing is left

    async def prune(cutoff: datetime) -> int:
        calls.append((time.monotonic(), cutoff))
        return next(deleted, 0)

    settings = gateway_settings(
        f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, prune_interval_seconds=0.5
    )
    with running_gateway(settings) as running:
        began = utcnow()

        async def start() -> None:  # tasks are spawned on the gateway's loop
            running.context.prune_every_interval(
                "test-prune", prune, retention=timedelta(hours=2), batch=10
            )

        running.run(start())
        wait_until(lambda: len(calls) >= 5, timeout=10)
    (first, _), (_, _), (third, _), (fourth, _), (fifth, _) = calls[:5]
    assert third - first < 0.3  # whole batches: again at once
    assert fourth - third >= 0.45 and fifth - fourth >= 0.45  # then every interval
    for _, cutoff in calls:
        assert abs((began - timedelta(hours=2) - cutoff).total_seconds()) < 5
