"""Slot claims: one row per fired ``(trigger_id, scheduled_at)``; the replica that inserts
it fires, in the same transaction as the fire's dispatch rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    Index,
    MetaData,
    String,
    Table,
    TextualSelect,
    delete,
    func,
    select,
    text,
)

from highway_triggers import BaseTrigger
from highway_triggers.plugin import DriverSQL, TriggerLookup, UtcDateTime, utcnow

CLAIMS = Table(
    "cron_claims",
    MetaData(),
    Column("trigger_id", String, primary_key=True),
    Column("scheduled_at", UtcDateTime, primary_key=True),
    Column("claimed_at", UtcDateTime, nullable=False),
    Index("ix_cron_claims_scheduled_at", "scheduled_at"),
)
SUBTYPE = "CRON"
CHUNK = 500
"""Trigger ids per statement when reading the last runs of many schedules."""
_LATEST = CLAIMS.alias("latest")


def _latest_of(ids: str) -> TextualSelect:
    """The latest claimed slot of each id in ``ids``, a table with an ``id`` column."""
    return text(
        "SELECT ids.id, (SELECT max(scheduled_at) FROM cron_claims WHERE trigger_id = ids.id)"
        f" AS latest FROM {ids}"
    ).columns(id=String, latest=UtcDateTime)


_LATEST_OF_PG = _latest_of("unnest(CAST(:ids AS text[])) AS ids (id)")
"""``:ids`` is an array."""
_LATEST_OF_SQLITE = _latest_of("(SELECT value AS id FROM json_each(:ids)) AS ids")
"""``:ids`` is a JSON array."""


class ClaimSQL(DriverSQL):
    """The claim statement for one dialect, run on the driver as the outbox's statements are."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        mark = self.mark
        self.claim = (
            "INSERT INTO cron_claims (trigger_id, scheduled_at, claimed_at) "
            f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING"
        )


@dataclass(slots=True)
class SlotClaim:
    """The ``claim`` of one fire: ``True`` once its slot row is inserted, else why not.

    The row is inserted only while ``trigger``'s version is still the deployed one; on
    PostgreSQL ``is_current`` share-locks the trigger, so a concurrent pause, update or
    delete either waits for this fire or is seen by it. The core runs the claim in a
    savepoint and rolls a refusal back.
    """

    sql: ClaimSQL
    triggers: TriggerLookup
    trigger: BaseTrigger
    slot: datetime
    refusal: str | None = None
    """``lost_claim`` (another replica fired the slot), ``paused`` or ``inactive``."""

    def __call__(self, conn: Connection) -> bool:
        if not self.triggers.is_current(conn, self.trigger):
            self.refusal = self._not_current(conn)
            return False
        sql = self.sql
        params = (self.trigger.id, sql.timestamp(self.slot), sql.timestamp(utcnow()))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql.claim, params)
            inserted = cursor.rowcount == 1
        finally:
            cursor.close()
        if not inserted:
            self.refusal = "lost_claim"
        return inserted

    def _not_current(self, conn: Connection) -> str:
        claimed = select(CLAIMS.c.trigger_id).where(
            CLAIMS.c.trigger_id == self.trigger.id, CLAIMS.c.scheduled_at == self.slot
        )
        if conn.execute(claimed).first() is not None:
            return "lost_claim"
        config = self.triggers.stored_config(conn, self.trigger.id)
        return "paused" if config is not None and not config.get("enabled", True) else "inactive"


def restore_points(conn: Connection, triggers: TriggerLookup) -> dict[str, datetime]:
    """Each deployed schedule's slot of reference: its last fire, or when its version was
    deployed, whichever is later."""
    since = triggers.deployed_since(conn, SUBTYPE)
    last = latest_slots(conn, list(since))
    return {
        trigger_id: max(at, last[trigger_id]) if trigger_id in last else at
        for trigger_id, at in since.items()
    }


def latest_slots(conn: Connection, trigger_ids: list[str]) -> dict[str, datetime]:
    """``trigger_id → its latest claimed slot``, for those that have one: one statement,
    one index lookup per schedule."""
    postgres = conn.dialect.name == "postgresql"
    ids = trigger_ids if postgres else DriverSQL.json(trigger_ids)
    rows = conn.execute(_LATEST_OF_PG if postgres else _LATEST_OF_SQLITE, {"ids": ids})
    return {row.id: row.latest for row in rows if row.latest is not None}


def last_runs(conn: Connection, trigger_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """``trigger_id → (scheduled_at, claimed_at)`` of each one's latest fire."""
    found: dict[str, tuple[datetime, datetime]] = {}
    for start in range(0, len(trigger_ids), CHUNK):
        latest = (
            select(func.max(_LATEST.c.scheduled_at))
            .where(_LATEST.c.trigger_id == CLAIMS.c.trigger_id)
            .scalar_subquery()
        )
        query = select(CLAIMS.c.trigger_id, CLAIMS.c.scheduled_at, CLAIMS.c.claimed_at).where(
            CLAIMS.c.trigger_id.in_(trigger_ids[start : start + CHUNK]),
            CLAIMS.c.scheduled_at == latest,
        )
        found.update(
            {row.trigger_id: (row.scheduled_at, row.claimed_at) for row in conn.execute(query)}
        )
    return found


def prune(conn: Connection, before: datetime) -> int:
    """Delete claims older than ``before``, except each schedule's latest; how many went."""
    latest = (
        select(func.max(_LATEST.c.scheduled_at))
        .where(_LATEST.c.trigger_id == CLAIMS.c.trigger_id)
        .scalar_subquery()
    )
    done = conn.execute(
        delete(CLAIMS).where(CLAIMS.c.scheduled_at < before, CLAIMS.c.scheduled_at < latest)
    )
    return done.rowcount
