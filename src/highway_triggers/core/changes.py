"""Cross-replica change notification: ``NOTIFY`` on PostgreSQL, a periodic check everywhere.

Whoever changes shared state (the trigger index) bumps a revision in ``gateway_state``
and calls :func:`announce` in the same transaction. Every replica runs a
:class:`ChangeFeed` that calls back on a notification, and at least once per interval,
so that a missed notification (or SQLite, which has none) costs at most one interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection, select, text, update

from highway_triggers.db.database import Database
from highway_triggers.db.tables import STATE

log = logging.getLogger(__name__)

CHANNEL = "highway_triggers"
INDEX_REVISION = "index_revision"


def bump_revision(conn: Connection, key: str = INDEX_REVISION) -> int:
    """Increment a shared revision; the row lock orders concurrent writers by commit."""
    stmt = (
        update(STATE)
        .where(STATE.c.key == key)
        .values(value=STATE.c.value + 1)
        .returning(STATE.c.value)
    )
    revision = conn.execute(stmt).scalar()
    if revision is None:
        conn.execute(STATE.insert().values(key=key, value=1))
        revision = 1
    announce(conn, key)
    return int(revision)


def read_revision(conn: Connection, key: str = INDEX_REVISION) -> int:
    return int(conn.execute(select(STATE.c.value).where(STATE.c.key == key)).scalar() or 0)


def announce(conn: Connection, what: str, channel: str = CHANNEL) -> None:
    """Notify the other replicas when this transaction commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :what)"), {"channel": channel, "what": what})


class ChangeFeed:
    """Calls ``on_change`` on every notification and at least every ``interval`` seconds."""

    def __init__(
        self, db: Database, interval: float, on_change: Callable[[], Awaitable[None]]
    ) -> None:
        self._db = db
        self._interval = interval
        self._on_change = on_change
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll(), name="highway-change-poll"))
        if self._db.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="highway-change-listen"))

    async def stop(self) -> None:
        # Let a sync under way finish: cancelling it would leave its worker thread
        # using a connection after the engine is disposed (a leaked connection).
        self._stopping = True
        self._kick.set()
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _poll(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._kick.wait(), self._interval)
            except TimeoutError:
                pass
            if self._stopping:
                return
            self._kick.clear()
            try:
                await self._on_change()
            except Exception:
                log.exception("applying changes from other replicas failed; will retry")

    async def _listen(self) -> None:
        await listen(self._db, CHANNEL, lambda _: self._kick.set(), self._interval)


async def listen(
    db: Database, channel: str, on_notify: Callable[[str], None], retry_seconds: float
) -> None:
    """Call ``on_notify(payload)`` for each ``NOTIFY`` on ``channel`` until cancelled.

    A lost connection is reopened after ``retry_seconds``; what was announced meanwhile
    is missed, so every listener also polls.
    """
    import psycopg

    conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {channel}")
                async for notification in conn.notifies():
                    on_notify(notification.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("LISTEN %s connection lost (%s); polling covers the gap", channel, exc)
            await asyncio.sleep(retry_seconds)
