"""The plugin's statements: sync tokens (advanced by a claim in the dispatch's
transaction), ``starting`` claims, push channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from highway_triggers import BaseTrigger
from highway_triggers.plugin import Claim, Database, TriggerLookup, utcnow
from highway_triggers_gcal.tables import CHANNELS, STARTS, SYNC


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where a trigger's sync is: its token, and when the sync that gave it began."""

    sync_token: str | None
    synced_at: datetime


@dataclass(frozen=True, slots=True)
class Channel:
    channel_id: str
    trigger_id: str
    token_hash: str
    resource_id: str
    expires_at: datetime


class Store:
    """One gateway's statements on the plugin's tables."""

    def __init__(self, database: Database, triggers: TriggerLookup) -> None:
        self._database = database
        self._triggers = triggers
        self._dialect = postgresql if database.is_postgres else sqlite

    async def get(self, trigger_id: str) -> SyncState | None:
        return await self._database.call(self._get, trigger_id)

    async def baseline(
        self, trigger_id: str, calendar_id: str, token: str | None, synced_at: datetime
    ) -> SyncState:
        """The first sync's token, unless another replica stored one first; the stored state."""
        return await self._database.write(self._baseline, trigger_id, calendar_id, token, synced_at)

    def advance(self, trigger_id: str, old: SyncState, token: str | None, at: datetime) -> Claim:
        """The claim that moves the sync token from ``old`` to ``token``; ``False`` (nothing
        written) when another replica moved it first."""

        def claim(conn: Connection) -> bool:
            statement = (
                update(SYNC)
                .where(SYNC.c.trigger_id == trigger_id, SYNC.c.synced_at == old.synced_at)
                .values(sync_token=token, synced_at=at, updated_at=utcnow())
            )
            return bool(conn.execute(statement).rowcount == 1)

        return claim

    async def advance_now(
        self, trigger_id: str, old: SyncState, token: str | None, at: datetime
    ) -> bool:
        """:meth:`advance` in a transaction of its own (a sync with nothing to route)."""
        return await self._database.write(
            self._in_transaction, self.advance(trigger_id, old, token, at)
        )

    def start_claim(self, trigger: BaseTrigger, event_id: str, start_at: datetime) -> Claim:
        """The claim of a ``starting`` fire: the one replica that inserts its row fires it,
        while the trigger's version is still the deployed one."""
        dialect = self._dialect

        def claim(conn: Connection) -> bool:
            if not self._triggers.is_current(conn, trigger):
                return False
            statement = (
                dialect.insert(STARTS)
                .values(
                    trigger_id=trigger.id, event_id=event_id, start_at=start_at, claimed_at=utcnow()
                )
                .on_conflict_do_nothing()
            )
            return bool(conn.execute(statement).rowcount == 1)

        return claim

    async def deployed(self, trigger_id: str) -> bool:
        """Whether the trigger is still deployed (stopped for a shut-down or an update),
        else gone for good."""
        return await self._database.call(self._deployed, trigger_id)

    async def forget(self, trigger_id: str) -> None:
        """A trigger gone for good: its sync state, ``starting`` claims and channels
        deleted."""
        await self._database.write(self._forget, trigger_id)

    async def channel(self, channel_id: str) -> Channel | None:
        return await self._database.call(self._channel, channel_id)

    async def channels_of(self, trigger_id: str) -> list[Channel]:
        return await self._database.call(self._channels_of, trigger_id)

    async def add_channel(self, channel: Channel) -> None:
        await self._database.write(self._add_channel, channel)

    async def drop_channel(self, channel_id: str) -> None:
        await self._database.write(self._drop_channel, channel_id)

    def _in_transaction(self, claim: Claim) -> bool:
        with self._database.engine.begin() as conn:
            return claim(conn)

    def _get(self, trigger_id: str) -> SyncState | None:
        with self._database.engine.connect() as conn:
            return _read(conn, trigger_id)

    def _baseline(
        self, trigger_id: str, calendar_id: str, token: str | None, synced_at: datetime
    ) -> SyncState:
        statement = self._dialect.insert(SYNC).values(
            trigger_id=trigger_id,
            calendar_id=calendar_id,
            sync_token=token,
            synced_at=synced_at,
            updated_at=utcnow(),
        )
        with self._database.engine.begin() as conn:
            conn.execute(statement.on_conflict_do_nothing(index_elements=[SYNC.c.trigger_id]))
            found = _read(conn, trigger_id)
        assert found is not None
        return found

    def _deployed(self, trigger_id: str) -> bool:
        with self._database.engine.connect() as conn:
            return self._triggers.stored_config(conn, trigger_id) is not None

    def _forget(self, trigger_id: str) -> None:
        with self._database.engine.begin() as conn:
            conn.execute(delete(SYNC).where(SYNC.c.trigger_id == trigger_id))
            conn.execute(delete(STARTS).where(STARTS.c.trigger_id == trigger_id))
            conn.execute(delete(CHANNELS).where(CHANNELS.c.trigger_id == trigger_id))

    def _channel(self, channel_id: str) -> Channel | None:
        with self._database.engine.connect() as conn:
            row = conn.execute(select(CHANNELS).where(CHANNELS.c.channel_id == channel_id)).first()
        return None if row is None else _channel(row)

    def _channels_of(self, trigger_id: str) -> list[Channel]:
        with self._database.engine.connect() as conn:
            rows = conn.execute(select(CHANNELS).where(CHANNELS.c.trigger_id == trigger_id))
            return [_channel(row) for row in rows]

    def _add_channel(self, channel: Channel) -> None:
        with self._database.engine.begin() as conn:
            conn.execute(
                insert(CHANNELS).values(
                    channel_id=channel.channel_id,
                    trigger_id=channel.trigger_id,
                    token_hash=channel.token_hash,
                    resource_id=channel.resource_id,
                    expires_at=channel.expires_at,
                )
            )

    def _drop_channel(self, channel_id: str) -> None:
        with self._database.engine.begin() as conn:
            conn.execute(delete(CHANNELS).where(CHANNELS.c.channel_id == channel_id))


def _read(conn: Connection, trigger_id: str) -> SyncState | None:
    query = select(SYNC.c.sync_token, SYNC.c.synced_at).where(SYNC.c.trigger_id == trigger_id)
    row = conn.execute(query).first()
    return None if row is None else SyncState(row[0], row[1])


def _channel(row: Row[Any]) -> Channel:
    return Channel(row.channel_id, row.trigger_id, row.token_hash, row.resource_id, row.expires_at)
