"""The approval emails still to send: one per approver, claimed by one replica at a time
(``claimed_until``), sent, and marked sent or failed (then due again after a backoff)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from highway_triggers.plugin import Database, utcnow
from highway_triggers_approval.store import PENDING
from highway_triggers_approval.tables import APPROVALS, APPROVERS

CLAIM_SECONDS = 120
"""How long a claimed email is another replica's to send before it may be taken again."""
ERROR_MAX_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Email:
    """An approval email to send."""

    approval_id: str
    position: int
    to: str
    message_id: str
    approve_token: str
    """Sealed, as stored."""
    reject_token: str
    title: str
    description: str
    expires_at: datetime
    attempts: int


class MailOutbox:
    """Statements on the approvers' email state (synchronous: through ``Database``)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim(self, limit: int) -> list[Email]:
        """Up to ``limit`` emails due now (never sent, of pending approvals, not claimed by
        a replica), each claimed for :data:`CLAIM_SECONDS`."""
        now = utcnow()
        free = or_(APPROVERS.c.claimed_until.is_(None), APPROVERS.c.claimed_until < now)
        due = and_(
            APPROVERS.c.notified_at.is_(None),
            or_(APPROVERS.c.next_attempt_at.is_(None), APPROVERS.c.next_attempt_at <= now),
            free,
        )
        query = (
            select(APPROVERS, APPROVALS.c.title, APPROVALS.c.description, APPROVALS.c.expires_at)
            .join(APPROVALS, APPROVALS.c.id == APPROVERS.c.approval_id)
            .where(APPROVALS.c.status == PENDING, APPROVALS.c.notify == "email", due)
            .order_by(APPROVALS.c.created_at, APPROVERS.c.position)
            .limit(limit)
        )
        claimed = []
        with self._db.engine.begin() as conn:
            for row in conn.execute(query).all():
                taken = conn.execute(
                    update(APPROVERS)
                    .where(
                        APPROVERS.c.approval_id == row.approval_id,
                        APPROVERS.c.position == row.position,
                        due,
                    )
                    .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                )
                if taken.rowcount == 1:
                    claimed.append(
                        Email(
                            row.approval_id,
                            row.position,
                            row.email,
                            row.message_id,
                            row.approve_token,
                            row.reject_token,
                            row.title,
                            row.description,
                            row.expires_at,
                            row.notify_attempts,
                        )  # fmt: skip
                    )
        return claimed

    def sent(self, email: Email) -> None:
        self._set(
            email, notified_at=utcnow(), notify_attempts=email.attempts + 1, notify_error=None
        )

    def failed(self, email: Email, error: str, retry_in: float) -> None:
        """Record why sending failed; due again in ``retry_in`` seconds."""
        self._set(
            email,
            notify_attempts=email.attempts + 1,
            notify_error=error[:ERROR_MAX_LENGTH],
            next_attempt_at=utcnow() + timedelta(seconds=retry_in),
        )

    def _set(self, email: Email, **values: object) -> None:
        with self._db.engine.begin() as conn:
            conn.execute(
                update(APPROVERS)
                .where(
                    APPROVERS.c.approval_id == email.approval_id,
                    APPROVERS.c.position == email.position,
                )
                .values(claimed_until=None, **values)
            )
