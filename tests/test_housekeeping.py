"""Housekeeping: dedup rows past the retention period and expired kept events go."""

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from highway_triggers import gateway as gateway_module
from highway_triggers.db.tables import DELIVERIES, EARLY_EVENTS
from highway_triggers.db.columns import utcnow
from highway_triggers.testing import RunningGateway


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
