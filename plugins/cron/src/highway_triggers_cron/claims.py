"""Slot claims: one row per fired ``(trigger_id, scheduled_at)``; the replica that inserts
it fires, in the same transaction as the fire's dispatch rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, Index, MetaData, String, Table, delete, func, select

from highway_triggers.db.columns import UtcDateTime, driver_timestamp, utcnow
from highway_triggers.db.models import TriggerRow

CLAIMS = Table(
    "cron_claims",
    MetaData(),
    Column("trigger_id", String, primary_key=True),
    Column("scheduled_at", UtcDateTime, primary_key=True),
    Column("claimed_at", UtcDateTime, nullable=False),
    Index("ix_cron_claims_scheduled_at", "scheduled_at"),
)
TRIGGERS = TriggerRow.__table__  # type: ignore[attr-defined]
SUBTYPE = "CRON"
ACTIVE = "DEPLOYED"
_LATEST = CLAIMS.alias("latest")


class ClaimSQL:
    """The claim statement for one dialect, run on the driver as the outbox's statements are.

    The claim row is inserted only while the trigger row is still active at the revision
    the job was scheduled for; on PostgreSQL that row is share-locked, so a concurrent
    pause, update or delete either waits for this fire or is seen by it.
    """

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        mark = "%s" if self.postgres else "?"
        lock = " FOR SHARE" if self.postgres else ""
        self.claim = (
            "INSERT INTO cron_claims (trigger_id, scheduled_at, claimed_at) "
            f"SELECT {mark}, {mark}, {mark} WHERE EXISTS (SELECT 1 FROM trigger_index "
            f"WHERE id = {mark} AND deployment_status = '{ACTIVE}' AND revision = {mark}{lock}) "
            "ON CONFLICT DO NOTHING"
        )


@dataclass(slots=True)
class SlotClaim:
    """The ``claim`` of one fire: ``True`` once its slot row is inserted, else why not."""

    sql: ClaimSQL
    trigger_id: str
    revision: int
    slot: datetime
    refusal: str | None = None
    """``lost_claim`` (another replica fired the slot), ``paused`` or ``inactive``."""

    def __call__(self, conn: Connection) -> bool:
        sql = self.sql
        params = (
            self.trigger_id,
            driver_timestamp(self.slot, sql.postgres),
            driver_timestamp(utcnow(), sql.postgres),
            self.trigger_id,
            self.revision,
        )
        if conn.connection.driver_connection.execute(sql.claim, params).rowcount == 1:  # type: ignore[union-attr]
            return True
        self.refusal = _refusal(conn, self.trigger_id, self.slot)
        return False


def _refusal(conn: Connection, trigger_id: str, slot: datetime) -> str:
    claimed = select(CLAIMS.c.trigger_id).where(
        CLAIMS.c.trigger_id == trigger_id, CLAIMS.c.scheduled_at == slot
    )
    if conn.execute(claimed).first() is not None:
        return "lost_claim"
    row = conn.execute(
        select(TRIGGERS.c.deployment_status, TRIGGERS.c.trigger_config).where(
            TRIGGERS.c.id == trigger_id
        )
    ).first()
    paused = (
        row is not None
        and row.deployment_status == ACTIVE
        and not row.trigger_config.get("enabled", True)
    )
    return "paused" if paused else "inactive"


def restore_points(conn: Connection) -> dict[str, datetime]:
    """Each active schedule's slot of reference: its last fire, or when its version became active."""
    last = select(func.max(CLAIMS.c.scheduled_at)).where(CLAIMS.c.trigger_id == TRIGGERS.c.id)
    query = select(
        TRIGGERS.c.id, TRIGGERS.c.updated_at, last.scalar_subquery().label("last")
    ).where(TRIGGERS.c.trigger_subtype == SUBTYPE, TRIGGERS.c.deployment_status == ACTIVE)
    return {
        row.id: row.updated_at if row.last is None else max(row.last, row.updated_at)
        for row in conn.execute(query)
    }


def last_runs(conn: Connection, trigger_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """``trigger_id → (scheduled_at, claimed_at)`` of each one's latest fire."""
    found: dict[str, tuple[datetime, datetime]] = {}
    for start in range(0, len(trigger_ids), 500):
        latest = (
            select(func.max(_LATEST.c.scheduled_at))
            .where(_LATEST.c.trigger_id == CLAIMS.c.trigger_id)
            .scalar_subquery()
        )
        query = select(CLAIMS.c.trigger_id, CLAIMS.c.scheduled_at, CLAIMS.c.claimed_at).where(
            CLAIMS.c.trigger_id.in_(trigger_ids[start : start + 500]),
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
