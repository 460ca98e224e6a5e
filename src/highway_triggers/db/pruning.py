"""Deleting old rows in bounded batches, for the core's tables and plugins' own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, delete, select


def delete_oldest(
    conn: Connection,
    key: Column[Any],
    *conditions: ColumnElement[bool],
    order_by: ColumnElement[Any] | Column[Any],
    limit: int,
) -> int:
    """Delete up to ``limit`` rows of ``key``'s table that meet ``conditions``, the first
    by ``order_by`` first (index it with the conditions' column); how many went.

    The keys are picked first and the rows deleted by key, the conditions checked again:
    a ``DELETE … WHERE key IN (SELECT … LIMIT n)`` may run its subquery once per row.
    """
    picked = select(key).where(*conditions).order_by(order_by).limit(limit)
    keys: list[Any] = list(conn.execute(picked).scalars())
    if not keys:
        return 0
    return int(conn.execute(delete(key.table).where(key.in_(keys), *conditions)).rowcount)
