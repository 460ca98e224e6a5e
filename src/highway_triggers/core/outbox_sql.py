"""Hot-path SQL for the outbox, run on the driver's cursor (SQLite or PostgreSQL).

SQLAlchemy's per-parameter processing costs more than the statements themselves at
thousands of rows per second, so the writer's statements are plain SQL written once
per dialect. Everything else uses SQLAlchemy.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

DISPATCH_COLUMNS = (
    "id", "kind", "mode", "workflow_id", "execution_id", "trigger_id", "wait_id", "tenant_id",
    "trigger_type", "event_id", "payload", "idempotency_key", "status", "attempts",
    "next_attempt_at", "locked_until", "created_at", "updated_at",
)  # fmt: skip
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


class OutboxSQL:
    """The writer's statements and value conversions for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        mark = "%s" if self.postgres else "?"
        json_mark = "CAST(%s AS jsonb)" if self.postgres else "?"
        values = ", ".join(json_mark if c == "payload" else mark for c in DISPATCH_COLUMNS)
        self.insert_dispatch = (
            f"INSERT INTO dispatches ({', '.join(DISPATCH_COLUMNS)}) VALUES ({values})"
        )
        self.record_outcome = (
            f"UPDATE dispatches SET status = {mark}, execution_id = {mark}, last_error = {mark}, "
            f"next_attempt_at = {mark}, delivered_at = {mark}, locked_until = NULL, updated_at = {mark} "
            f"WHERE id = {mark} AND status = 'delivering' AND attempts = {mark}"
        )
        self.insert_delivery = (
            "INSERT INTO deliveries (source, delivery_id, event_id, received_at) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT DO NOTHING"
        )
        self.delivery_owner = f"SELECT event_id FROM deliveries WHERE source = {mark} AND delivery_id = {mark}"
        self.forget_delivery = f"DELETE FROM deliveries WHERE source = {mark} AND delivery_id = {mark}"

    def timestamp(self, value: datetime | None) -> Any:
        """A UTC timestamp as the column stores it (naive text on SQLite)."""
        if value is None or self.postgres:
            return value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    @staticmethod
    def json(value: Any) -> str:
        return _COMPACT_JSON.encode(value)
