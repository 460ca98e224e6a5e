"""DeliveryArchive (core/archive.py), the plugins' store of received deliveries, on its own
on SQLite and PostgreSQL: a row goes in with its ingress transaction or not at all, a
redelivery keeps the first row, ``get`` shows one, ``prune`` deletes bounded batches of the
oldest. (Its admin route is exercised through the GitHub and Slack plugins.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, Text

from highway_triggers.db.database import Database
from highway_triggers.plugin import Claim, DeliveryArchive, UtcDateTime, utcnow

metadata = MetaData()
RECEIVED = Table(
    "test_received",
    metadata,
    Column("delivery_id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("processed_at", UtcDateTime, nullable=False, index=True),
)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    metadata.create_all(database.engine)
    yield database
    database.close()


@pytest.fixture
def archive(database: Database) -> DeliveryArchive:
    return DeliveryArchive(database, RECEIVED, noun="test request")


def commit(database: Database, *claims: Claim, fail: bool = False) -> None:
    """Run ``claims`` in one transaction, as the ingress writer does; ``fail`` rolls it back."""
    with database.engine.connect() as conn:
        transaction = conn.begin()
        for claim in claims:
            assert claim(conn) is True
        transaction.rollback() if fail else transaction.commit()


def test_a_row_is_stored_with_its_transaction_and_a_redelivery_keeps_the_first(
    database: Database, archive: DeliveryArchive
) -> None:
    before = utcnow()
    commit(database, archive.claim({"delivery_id": "d-1", "kind": "push", "payload": '{"a": 1}'}))
    commit(database, archive.claim({"delivery_id": "d-1", "kind": "again", "payload": "{}"}))
    commit(database, archive.claim({"delivery_id": "d-2", "kind": "x", "payload": "{}"}), fail=True)

    found = asyncio.run(archive.get("d-1"))
    assert found is not None
    assert (found["kind"], found["payload"]) == ("push", '{"a": 1}')
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(found["processed_at"])
    assert asyncio.run(archive.get("d-2")) is None  # its transaction rolled back


def test_add_stores_outside_routing_and_a_row_needs_every_column(
    archive: DeliveryArchive,
) -> None:
    asyncio.run(archive.add({"delivery_id": "ping-1", "kind": "ping", "payload": "{}"}))
    assert asyncio.run(archive.get("ping-1"))["kind"] == "ping"  # type: ignore[index]
    with pytest.raises(KeyError, match="payload"):
        archive.claim({"delivery_id": "d-3", "kind": "push"})


def test_prune_deletes_the_oldest_in_bounded_batches(
    database: Database, archive: DeliveryArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "prune_batch", 3)
    commit(
        database,
        *(
            archive.claim({"delivery_id": f"old-{n}", "kind": "k", "payload": "{}"})
            for n in range(5)
        ),
    )
    cutoff = utcnow() + timedelta(seconds=1)
    asyncio.run(asyncio.sleep(1.1))
    commit(database, archive.claim({"delivery_id": "new", "kind": "k", "payload": "{}"}))

    assert asyncio.run(archive.prune(cutoff)) == 3
    assert asyncio.run(archive.prune(cutoff)) == 2
    assert asyncio.run(archive.prune(cutoff)) == 0
    assert asyncio.run(archive.get("new")) is not None
    assert all(asyncio.run(archive.get(f"old-{n}")) is None for n in range(5))
