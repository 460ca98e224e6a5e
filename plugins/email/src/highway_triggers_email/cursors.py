"""Each mailbox's cursor ``(UIDVALIDITY, last UID)`` in ``email_cursors``.

A message is routed with a claim that moves the cursor from the message before it to
this one, in the transaction of its dispatch: the claim holds only when the cursor is
where the watcher left it, so a message is never skipped (the chain breaks at a message
that failed) and never routed twice (a replica that lost the lease finds the cursor
moved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from highway_triggers.plugin import Claim, Database, DriverSQL, utcnow
from highway_triggers_email.tables import CURSORS


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a mailbox's watcher is: the last message routed, in one UIDVALIDITY epoch."""

    uidvalidity: int
    last_uid: int
    last_internal_date: datetime | None


class CursorStore:
    """One gateway's statements on ``email_cursors``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sql = DriverSQL(database.dialect)
        mark = self._sql.mark
        self._advance = (
            f"UPDATE email_cursors SET last_uid = {mark}, last_internal_date = {mark},"
            f" updated_at = {mark} WHERE mailbox_id = {mark} AND uidvalidity = {mark}"
            f" AND last_uid = {mark}"
        )

    def advance(
        self, mailbox_id: str, uidvalidity: int, after: int, uid: int, internal: datetime | None
    ) -> Claim:
        """The claim of message ``uid``: the cursor moves from ``after`` (the message routed
        before it) to ``uid``; ``False`` (nothing written) when it is not at ``after``."""
        sql = self._sql

        def claim(conn: Connection) -> bool:
            params = (
                uid, sql.timestamp(internal), sql.timestamp(utcnow()),
                mailbox_id, uidvalidity, after,
            )  # fmt: skip
            cursor = conn.connection.cursor()
            try:
                cursor.execute(self._advance, params)
                return bool(cursor.rowcount == 1)
            finally:
                cursor.close()

        return claim

    async def skip(
        self, mailbox_id: str, uidvalidity: int, after: int, uid: int, internal: datetime | None
    ) -> bool:
        """Move the cursor past a message that needs no transaction of its own (a duplicate:
        routed once already); ``False`` when the cursor is not at ``after``."""
        return await self._database.write(
            self._in_transaction, self.advance(mailbox_id, uidvalidity, after, uid, internal)
        )

    async def get(self, mailbox_id: str) -> Cursor | None:
        return await self._database.call(self._get, mailbox_id)

    async def start(self, mailbox_id: str, label: str, uidvalidity: int, last_uid: int) -> Cursor:
        """The mailbox's cursor, first set to ``(uidvalidity, last_uid)`` if it has none."""
        return await self._database.write(self._start, mailbox_id, label, uidvalidity, last_uid)

    async def reset(self, mailbox_id: str, old: Cursor, uidvalidity: int, last_uid: int) -> Cursor:
        """A new UIDVALIDITY epoch: the cursor set to ``last_uid`` in it, unless another
        watcher moved it from ``old`` first; the stored cursor either way."""
        return await self._database.write(self._reset, mailbox_id, old, uidvalidity, last_uid)

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every stored cursor by mailbox id, for the mailboxes API."""
        return await self._database.call(self._all)

    def _in_transaction(self, claim: Claim) -> bool:
        with self._database.engine.begin() as conn:
            return claim(conn)

    def _get(self, mailbox_id: str) -> Cursor | None:
        with self._database.engine.connect() as conn:
            return _read(conn, mailbox_id)

    def _start(self, mailbox_id: str, label: str, uidvalidity: int, last_uid: int) -> Cursor:
        dialect = postgresql if self._database.is_postgres else sqlite
        insert = dialect.insert(CURSORS).values(
            mailbox_id=mailbox_id,
            mailbox=label,
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            last_internal_date=None,
            updated_at=utcnow(),
        )
        with self._database.engine.begin() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=[CURSORS.c.mailbox_id]))
            found = _read(conn, mailbox_id)
        assert found is not None
        return found

    def _reset(self, mailbox_id: str, old: Cursor, uidvalidity: int, last_uid: int) -> Cursor:
        statement = (
            update(CURSORS)
            .where(
                CURSORS.c.mailbox_id == mailbox_id,
                CURSORS.c.uidvalidity == old.uidvalidity,
                CURSORS.c.last_uid == old.last_uid,
            )
            .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=utcnow())
        )
        with self._database.engine.begin() as conn:
            conn.execute(statement)
            found = _read(conn, mailbox_id)
        assert found is not None
        return found

    def _all(self) -> dict[str, dict[str, Any]]:
        with self._database.engine.connect() as conn:
            rows = conn.execute(select(CURSORS)).mappings().all()
        return {
            row["mailbox_id"]: {
                "uidvalidity": row["uidvalidity"],
                "last_uid": row["last_uid"],
                "updated_at": row["updated_at"].isoformat(),
            }
            for row in rows
        }


def _read(conn: Connection, mailbox_id: str) -> Cursor | None:
    query = select(CURSORS.c.uidvalidity, CURSORS.c.last_uid, CURSORS.c.last_internal_date).where(
        CURSORS.c.mailbox_id == mailbox_id
    )
    row = conn.execute(query).first()
    return None if row is None else Cursor(row[0], row[1], row[2])
