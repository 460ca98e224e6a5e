"""The stored requests (``slack_events``): written in the request's ingress transaction,
read for inspection, pruned after the retention period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from highway_triggers.plugin import Claim, Database, DriverSQL, delete_oldest, utcnow
from highway_triggers_slack.tables import EVENTS

PRUNE_BATCH = 1_000
COLUMNS = (
    "delivery_id", "kind", "type", "team_id", "channel_id", "user_id", "retry_num", "payload",
    "processed_at",
)  # fmt: skip


class EventStore:
    """One gateway's statements on ``slack_events``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sql = DriverSQL(database.dialect)
        marks = ", ".join([self._sql.mark] * len(COLUMNS))
        self._insert = f"INSERT INTO slack_events ({', '.join(COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def claim(self, data: dict[str, Any], body: bytes, retry_num: int | None) -> Claim:
        """The row of one request as a claim of its ingress transaction: stored with the
        runs it starts or not at all (a retry keeps the first row)."""
        row = (
            data["delivery_id"], data["kind"], data["type"], data["team"], data["channel"],
            data["user"], retry_num, body.decode(), self._sql.timestamp(utcnow()),
        )  # fmt: skip

        def store(conn: Connection) -> bool:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(self._insert, row)
            finally:
                cursor.close()
            return True

        return store

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        """A stored request, its payload as the text Slack sent."""
        return await self._database.call(self._get, delivery_id)

    async def prune(self, before: datetime) -> int:
        """Delete up to :data:`PRUNE_BATCH` requests processed before ``before``."""
        return await self._database.write(self._prune, before)

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
