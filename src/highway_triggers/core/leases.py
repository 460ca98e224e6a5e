"""Named leases, so that a watcher runs on exactly one replica (one IMAP watcher per mailbox).

A replica takes a lease for a TTL and renews it well before the TTL runs out; a lease nobody
renews runs out and another replica takes it over. The ``leases`` table of the shared database
(PostgreSQL, or SQLite for a single process) is the only coordination.

Guarantee: at most one replica holds a lease at any instant, as long as the replicas' clocks
agree within a small skew (small against the TTL). Expiries are written and compared in the
clock of the replica asking (its own ``utcnow()``, not the database's), so a replica whose
clock runs ``s`` seconds ahead may take a lease up to ``s`` seconds early. A holder counts
its lease only until the expiry it wrote, and :meth:`Leases.run_while_held` stops the work
when a renewal fails or does not finish before that expiry. When the holder dies its lease
runs out at most one TTL after its last renewal, and a replica in ``run_while_held`` takes it
over within a further TTL/3 (its retry interval).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import LEASES

log = logging.getLogger(__name__)


def new_replica_id() -> str:
    """An id for this process that no other replica shares: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases:
    """One replica's named leases, kept in the shared ``leases`` table."""

    def __init__(self, db: Database, replica_id: str) -> None:
        self.replica_id = replica_id
        """The holder this replica writes into the leases it takes."""
        self._db = db
        self._held: dict[str, datetime] = {}

    async def acquire(self, name: str, ttl_seconds: float) -> bool:
        """Take ``name`` for ``ttl_seconds`` if it is free, expired or already ours (then
        extend it); True when this replica holds it now."""
        expiry = await self._db.call(self._acquire, name, ttl_seconds)
        return self._note(name, expiry)

    async def renew(self, name: str, ttl_seconds: float) -> bool:
        """Extend a lease we hold to ``ttl_seconds`` from now; False when we no longer hold
        it (taken over, released, or run out: a lapsed lease must be acquired again)."""
        expiry = await self._db.call(self._renew, name, ttl_seconds)
        return self._note(name, expiry)

    async def release(self, name: str) -> None:
        """Give ``name`` up, if it is ours, so that another replica can take it at once."""
        self._held.pop(name, None)
        await self._db.call(self._release, name)

    async def holder(self, name: str) -> str | None:
        """The replica holding ``name`` now, or None when it is free or has run out."""
        return await self._db.call(self._holder, name)

    def held(self) -> dict[str, datetime]:
        """The leases this replica believes it holds, each with its expiry (for health)."""
        now = utcnow()
        return {name: expiry for name, expiry in self._held.items() if expiry > now}

    async def run_while_held(
        self, name: str, ttl_seconds: float, work: Callable[[], Awaitable[None]]
    ) -> None:
        """Run ``work()`` only while this replica holds ``name``, until cancelled.

        Tries to acquire the lease every TTL/3 while another replica holds it. Once held,
        runs ``work()`` as a task and renews every TTL/3; when a renewal fails, raises or
        does not finish before the lease runs out, the work is cancelled and acquiring
        starts over. When the work returns or raises, the lease is released and this
        returns or raises likewise (so that a supervisor can restart it). Cancelled, it
        cancels the work and releases the lease. A database error while acquiring is
        raised. ``work`` must end when cancelled.
        """
        try:
            while True:
                if await self.acquire(name, ttl_seconds) and await self._hold(
                    name, ttl_seconds, work
                ):
                    return
                await asyncio.sleep(ttl_seconds / 3)
        except asyncio.CancelledError:
            try:
                await self.release(name)
            except Exception:
                log.warning("lease %r: release failed; it runs out by itself", name, exc_info=True)
            raise

    async def _hold(
        self, name: str, ttl_seconds: float, work: Callable[[], Awaitable[None]]
    ) -> bool:
        """Run ``work`` while renewing ``name``: True when it ended (the lease is then
        released, and its exception raised), False when the lease was lost."""
        task = asyncio.ensure_future(work())
        try:
            while not await _ended(task, ttl_seconds / 3):
                if not await self._renewed(name, ttl_seconds):
                    return False
        finally:
            await _stop(name, task)
        await self.release(name)
        task.result()
        return True

    async def _renewed(self, name: str, ttl_seconds: float) -> bool:
        """Renew ``name`` before its expiry passes; False (logged) when that fails."""
        expiry = self._held.get(name)
        if expiry is None:
            log.warning("lease %r was released; stopping its work", name)
            return False
        try:
            async with asyncio.timeout((expiry - utcnow()).total_seconds()):
                if await self.renew(name, ttl_seconds):
                    return True
            log.warning("lease %r was taken over or ran out; stopping its work", name)
        except Exception:
            log.warning("lease %r: renewal failed; stopping its work", name, exc_info=True)
        self._held.pop(name, None)
        return False

    def _note(self, name: str, expiry: datetime | None) -> bool:
        """Remember ``name`` as held until ``expiry``, unless that has passed already."""
        if expiry is not None and expiry > utcnow():
            self._held[name] = expiry
            return True
        self._held.pop(name, None)
        return False

    def _acquire(self, name: str, ttl_seconds: float) -> datetime | None:
        now = utcnow()
        expiry = now + timedelta(seconds=ttl_seconds)
        dialect = postgresql if self._db.is_postgres else sqlite
        insert = dialect.insert(LEASES).values(
            name=name, holder=self.replica_id, acquired_at=now, expires_at=expiry
        )
        ours = LEASES.c.holder == self.replica_id
        still_ours = ours & (LEASES.c.expires_at > now)
        upsert = insert.on_conflict_do_update(
            index_elements=[LEASES.c.name],
            set_={
                "holder": insert.excluded.holder,
                "expires_at": insert.excluded.expires_at,
                "acquired_at": case(
                    (still_ours, LEASES.c.acquired_at), else_=insert.excluded.acquired_at
                ),
            },
            where=(LEASES.c.expires_at <= now) | ours,
        )
        with self._db.engine.begin() as conn:
            return expiry if conn.execute(upsert).rowcount == 1 else None

    def _renew(self, name: str, ttl_seconds: float) -> datetime | None:
        now = utcnow()
        expiry = now + timedelta(seconds=ttl_seconds)
        statement = (
            update(LEASES)
            .where(
                LEASES.c.name == name,
                LEASES.c.holder == self.replica_id,
                LEASES.c.expires_at > now,
            )
            .values(expires_at=expiry)
        )
        with self._db.engine.begin() as conn:
            return expiry if conn.execute(statement).rowcount == 1 else None

    def _release(self, name: str) -> None:
        statement = delete(LEASES).where(LEASES.c.name == name, LEASES.c.holder == self.replica_id)
        with self._db.engine.begin() as conn:
            conn.execute(statement)

    def _holder(self, name: str) -> str | None:
        query = select(LEASES.c.holder).where(LEASES.c.name == name, LEASES.c.expires_at > utcnow())
        with self._db.engine.connect() as conn:
            holder: str | None = conn.execute(query).scalar_one_or_none()
        return holder


async def _ended(task: asyncio.Future[None], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``task``; True when it has ended."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    return bool(done)


async def _stop(name: str, task: asyncio.Future[None]) -> None:
    """Cancel ``task`` unless it has ended, and wait until it has."""
    if task.done():
        return
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("lease %r: the work failed while stopping", name, exc_info=error)
