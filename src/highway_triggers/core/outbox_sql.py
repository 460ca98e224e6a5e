"""Hot-path SQL for the outbox, run on the driver's cursor (SQLite or PostgreSQL).

SQLAlchemy's per-parameter processing costs more than the statements themselves at
thousands of rows per second, so the writer's statements are plain SQL written once
per dialect. Everything else uses SQLAlchemy.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from highway_triggers.db.columns import driver_timestamp

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
        self.delivery_owner = (
            f"SELECT event_id FROM deliveries WHERE source = {mark} AND delivery_id = {mark}"
        )
        self.renew_delivery = (
            f"UPDATE deliveries SET event_id = {mark}, received_at = {mark} "
            f"WHERE source = {mark} AND delivery_id = {mark} AND received_at < {mark}"
        )
        self.forget_delivery = (
            f"DELETE FROM deliveries WHERE source = {mark} AND delivery_id = {mark}"
        )
        self.consume_wait = (
            f"UPDATE waits SET consumed_at = {mark}, closed_reason = 'consumed' "
            f"WHERE id = {mark} AND consumed_at IS NULL"
        )

    @lru_cache(maxsize=64)  # noqa: B019 - one instance per writer, a handful of shapes
    def open_waits(self, column: str, keys: int, by_tenant: bool, by_event: bool) -> str:
        """Phase 0: the open, unexpired waits whose ``column`` (correlation_key or token)
        is one of ``keys`` values; parameters: now, [tenant_id], [event_name], keys."""
        mark = "%s" if self.postgres else "?"
        where = [
            "consumed_at IS NULL",
            f"(expires_at IS NULL OR expires_at > {mark})",
            *([f"tenant_id = {mark}"] if by_tenant else []),
            *([f"event_name = {mark}"] if by_event else []),
            f"{column} IN ({', '.join([mark] * keys)})",
        ]
        return (
            "SELECT id, tenant_id, workflow_id, workflow_run_id, multi_use, payload_schema,"
            f" created_at FROM waits WHERE {' AND '.join(where)}"
        )

    def timestamp(self, value: datetime | None) -> Any:
        """A UTC timestamp as the column stores it (naive text on SQLite)."""
        return None if value is None else driver_timestamp(value, self.postgres)

    @staticmethod
    def json(value: Any) -> str:
        """Compact JSON text: orjson (a tenth of the standard encoder's time on a 1 KB
        payload), or the standard library for what orjson refuses (integers past 64
        bits, lone surrogates, keys that are not strings)."""
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # orjson.JSONEncodeError
            return _COMPACT_JSON.encode(value)

    def from_json(self, value: Any) -> Any:
        """A JSON column as read (PostgreSQL's driver has decoded it already)."""
        return value if self.postgres or value is None else json.loads(value)
