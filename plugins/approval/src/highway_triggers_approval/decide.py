"""Deciding an approval: each approver's decision recorded, and the approval closed by
the decision that reaches ``required_approvals`` (or by the first rejection, or by its
expiry) in the same transaction — a conditional ``UPDATE … WHERE status = 'pending'`` on
the approval's row, locked first (``FOR UPDATE`` on PostgreSQL; SQLite writes one at a
time) — so that two decisions at once close it once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from highway_triggers.plugin import Claim, Database, HTTPError, SignedLinks, utcnow
from highway_triggers_approval import tokens
from highway_triggers_approval.store import PENDING, iso
from highway_triggers_approval.tables import APPROVALS, DECISIONS

CLOSED = {"approved": "approved", "rejected": "rejected", "expired": "has expired"}


@dataclass(frozen=True, slots=True)
class Answer:
    """What an approver sent from their link."""

    approval_id: str
    decision: str
    token: str
    comment: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """A decision recorded, and where the approval stands after it."""

    approver: str
    decision: str
    status: str
    """``pending`` while more approvals are needed; else how it was decided."""
    approvals: int
    required: int
    title: str
    redirect_url: str | None
    """Where the approver's browser goes next, when the request gave a URL."""


def open_approval(conn: Connection, approval_id: str, *, lock: bool = False) -> Row[Any]:
    """The approval's row while it is still pending; 404 ``APPROVAL_NOT_FOUND``, 410
    ``APPROVAL_CLOSED`` once it was decided or has expired."""
    query = select(APPROVALS).where(APPROVALS.c.id == approval_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise HTTPError(404, "APPROVAL_NOT_FOUND", f"no approval {approval_id!r}")
    expired = row.status == PENDING and row.expires_at <= utcnow()
    status = "expired" if expired else row.status
    if status != PENDING:
        raise HTTPError(410, "APPROVAL_CLOSED", f"this request {CLOSED[status]} already")
    return row


def check_approver(conn: Connection, row: Row[Any], approver: str, decision: str) -> None:
    """403 ``SELF_APPROVAL`` when the requester would approve their own request (unless
    allowed), 409 ``ALREADY_ANSWERED`` when the approver has decided already."""
    own = row.requested_by is not None and row.requested_by.casefold() == approver.casefold()
    if decision == "approve" and own and not row.allow_self_approval:
        raise HTTPError(403, "SELF_APPROVAL", "you asked for this approval: you may not approve it")
    answered = conn.execute(
        select(DECISIONS.c.decision).where(
            DECISIONS.c.approval_id == row.id, DECISIONS.c.approver == approver
        )
    ).scalar()
    if answered is not None:
        raise HTTPError(409, "ALREADY_ANSWERED", f"you answered this request already ({answered})")


class Decisions:
    """Records decisions and closes approvals (synchronous: through ``Database.write``)."""

    def __init__(self, database: Database, links: SignedLinks) -> None:
        self._db = database
        self._links = links

    def check(self, approval_id: str, token: str, decision: str) -> tuple[Row[Any], str]:
        """What a confirmation page shows, and nothing changed: the approval and the
        approver, once the token and the approval allow the decision."""
        approver = tokens.approver_of(
            self._links.verify(tokens.PURPOSE, token), approval_id, decision
        )
        with self._db.engine.connect() as conn:
            row = open_approval(conn, approval_id)
            check_approver(conn, row, approver, decision)
        return row, approver

    def record(self, answer: Answer) -> Recorded:
        """Use the token and record the decision; the approval is closed when this decision
        decides it. Any refusal leaves everything as it was, the token unused."""
        now = utcnow()
        with self._db.engine.begin() as conn:
            claims = self._links.redeem_in(conn, tokens.PURPOSE, answer.token)
            approver = tokens.approver_of(claims, answer.approval_id, answer.decision)
            row = open_approval(conn, answer.approval_id, lock=True)
            check_approver(conn, row, approver, answer.decision)
            conn.execute(
                insert(DECISIONS).values(
                    approval_id=row.id,
                    approver=approver,
                    decision=answer.decision,
                    comment=answer.comment,
                    decided_at=now,
                    client_ip=answer.client_ip,
                    user_agent=answer.user_agent,
                )
            )
            decisions = _decisions(conn, row.id)
            approvals = sum(d.decision == "approve" for d in decisions)
            status = PENDING
            if answer.decision == "reject":
                status = "rejected"
            elif approvals >= row.required_approvals:
                status = "approved"
            if status != PENDING:
                _close(conn, row, status, decisions, now, answer.comment)
        redirect = (
            row.redirect_url_approved if answer.decision == "approve" else row.redirect_url_rejected
        )
        return Recorded(
            approver,
            answer.decision,
            status,
            approvals,
            row.required_approvals,
            row.title,
            redirect,
        )

    def expire_due(self, limit: int) -> list[str]:
        """Close up to ``limit`` pending approvals past their expiry; their ids."""
        now = utcnow()
        due = (
            select(APPROVALS)
            .where(APPROVALS.c.status == PENDING, APPROVALS.c.expires_at <= now)
            .order_by(APPROVALS.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._db.engine.begin() as conn:
            return [
                row.id
                for row in conn.execute(due).all()
                if _close(conn, row, "expired", _decisions(conn, row.id), now, None)
            ]

    @staticmethod
    def finish_claim(approval_id: str) -> Claim:
        """The claim of an approval's resume: marks it resumed in the routing transaction,
        once (``False``, nothing routed, when it was resumed already)."""

        def claim(conn: Connection) -> bool:
            resumed = conn.execute(
                update(APPROVALS)
                .where(
                    APPROVALS.c.id == approval_id,
                    APPROVALS.c.status != PENDING,
                    APPROVALS.c.resumed_at.is_(None),
                )
                .values(resumed_at=utcnow())
            )
            return bool(resumed.rowcount == 1)

        return claim

    def unfinished(self, before: datetime) -> list[str]:
        """Approvals decided before ``before`` whose run was not resumed (a replica stopped
        in between)."""
        with self._db.engine.connect() as conn:
            return list(
                conn.execute(
                    select(APPROVALS.c.id).where(
                        APPROVALS.c.resumed_at.is_(None),
                        APPROVALS.c.status != PENDING,
                        APPROVALS.c.decided_at <= before,
                    )
                ).scalars()
            )


def _decisions(conn: Connection, approval_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(DECISIONS)
            .where(DECISIONS.c.approval_id == approval_id)
            .order_by(DECISIONS.c.decided_at, DECISIONS.c.approver)
        ).all()
    )


def _close(
    conn: Connection,
    row: Row[Any],
    status: str,
    decisions: list[Row[Any]],
    now: datetime,
    comment: str | None,
) -> bool:
    """Close a pending approval with ``status`` and the outcome its run resumes with;
    ``False`` when it was no longer pending."""
    outcome = {
        "status": status,
        "approved_by": [d.approver for d in decisions if d.decision == "approve"],
        "rejected_by": [d.approver for d in decisions if d.decision == "reject"],
        "comment": comment,
        "decided_at": iso(now),
        "approval_id": row.id,
        "approval_key": row.approval_key,
        "workflow_run_id": row.workflow_run_id,
        "decisions": [
            {
                "approver": d.approver,
                "decision": d.decision,
                "comment": d.comment,
                "decided_at": iso(d.decided_at),
            }
            for d in decisions
        ],
    }
    closed = conn.execute(
        update(APPROVALS)
        .where(APPROVALS.c.id == row.id, APPROVALS.c.status == PENDING)
        .values(status=status, outcome=outcome, decided_at=now)
    )
    return bool(closed.rowcount == 1)
