"""Plain driver SQL (the hot path's statements run on the DB-API cursor): the parameter
mark, timestamps and JSON as the columns store them, for SQLite and PostgreSQL.

SQLAlchemy's per-parameter processing costs more than the statements themselves at
thousands of rows per second; everything off the hot path uses SQLAlchemy.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson

from highway_triggers.db.columns import driver_timestamp

_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def placeholder(dialect: str) -> str:
    """The parameter mark: ``%s`` for psycopg, ``?`` for sqlite3."""
    return "%s" if dialect == "postgresql" else "?"


class DriverSQL:
    """Base of a module's plain-SQL statements for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self.mark = placeholder(dialect)
        self.json_mark = "CAST(%s AS json)" if self.postgres else "?"
        """The mark of an :data:`~highway_triggers.db.columns.ExactJSONType` value."""

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
