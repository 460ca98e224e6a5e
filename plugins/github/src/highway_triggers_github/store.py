"""The stored deliveries (``github_webhook_events``): written in the delivery's ingress
transaction, read for inspection, pruned after the retention period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from highway_triggers.plugin import Claim, Database, DriverSQL, delete_oldest, utcnow
from highway_triggers_github.tables import EVENTS

PRUNE_BATCH = 1_000
COLUMNS = (
    "delivery_id", "event", "action", "repository", "repository_id", "installation_id",
    "payload", "processed_at",
)  # fmt: skip


class DeliveryStore:
    """One gateway's statements on ``github_webhook_events``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sql = DriverSQL(database.dialect)
        marks = ", ".join([self._sql.mark] * len(COLUMNS))
        self._insert = (
            f"INSERT INTO github_webhook_events ({', '.join(COLUMNS)}) VALUES ({marks})"
            " ON CONFLICT DO NOTHING"
        )

    def claim(self, data: dict[str, Any], body: bytes) -> Claim:
        """The row of one delivery as a claim of its ingress transaction: stored with the
        event's dispatches or not at all (a redelivery keeps the first row)."""
        repository = data["repository"] or {}
        row = (
            data["delivery_id"], data["event"], data["action"], repository.get("full_name"),
            _integer(repository.get("id")), _integer(data["installation_id"]),
            body.decode(), self._sql.timestamp(utcnow()),
        )  # fmt: skip

        def store(conn: Connection) -> bool:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(self._insert, row)
            finally:
                cursor.close()
            return True

        return store

    async def add(self, data: dict[str, Any], body: bytes) -> None:
        """Store a delivery that is not routed (a ``ping``)."""
        await self._database.write(self._add, self.claim(data, body))

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        """A stored delivery, its payload as the JSON text GitHub sent."""
        return await self._database.call(self._get, delivery_id)

    async def prune(self, before: datetime) -> int:
        """Delete up to :data:`PRUNE_BATCH` deliveries processed before ``before``."""
        return await self._database.write(self._prune, before)

    def _add(self, store: Claim) -> None:
        with self._database.engine.begin() as conn:
            store(conn)

    def _get(self, delivery_id: str) -> dict[str, Any] | None:
        with self._database.engine.connect() as conn:
            query = select(EVENTS).where(EVENTS.c.delivery_id == delivery_id)
            found = conn.execute(query).mappings().first()
        if found is None:
            return None
        return {**found, "processed_at": found["processed_at"].isoformat()}

    def _prune(self, before: datetime) -> int:
        old = EVENTS.c.processed_at < before
        with self._database.engine.begin() as conn:
            return delete_oldest(
                conn, EVENTS.c.delivery_id, old, order_by=EVENTS.c.processed_at, limit=PRUNE_BATCH
            )


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
