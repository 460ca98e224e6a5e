"""Lists a page at a time: the ``limit`` and ``cursor`` query parameters, and the page.

Rows come in the order of a unique key (newest first where ids grow with time); a
page's ``next_cursor`` is the key of its last row and the next page continues past it.
A list reads one row more than ``limit``: that row tells whether there is a next page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from highway_triggers.core.errors import HTTPError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
LIMIT_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_LIMIT,
    "default": DEFAULT_LIMIT,
}


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``limit`` (1–1000, default 100) and ``cursor`` (a previous page's ``next_cursor``)."""

    limit: int
    cursor: str | None

    @classmethod
    def of(cls, request: Request, cursor_pattern: str) -> PageRequest:
        """The request's query parameters; 400 ``INVALID_PARAMETER`` naming a bad one."""
        params = request.query_params
        raw = params.get("limit", str(DEFAULT_LIMIT))
        limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
        if not 1 <= limit <= MAX_LIMIT:
            raise HTTPError(
                400, "INVALID_PARAMETER", f"limit must be an integer from 1 to {MAX_LIMIT}"
            )
        cursor = params.get("cursor") or None
        if cursor is not None and re.fullmatch(cursor_pattern, cursor) is None:
            raise HTTPError(
                400, "INVALID_PARAMETER", "cursor must be a next_cursor this API returned"
            )
        return cls(limit, cursor)

    @property
    def fetch(self) -> int:
        """Rows to read: one more than the page holds."""
        return self.limit + 1

    def page(self, name: str, rows: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
        """``{name: rows, "count", "next_cursor"}`` from :attr:`fetch` rows, ``key`` naming
        each row's id."""
        shown = list(rows[: self.limit])
        next_cursor = shown[-1][key] if len(rows) > self.limit else None
        return {name: shown, "count": len(shown), "next_cursor": next_cursor}
