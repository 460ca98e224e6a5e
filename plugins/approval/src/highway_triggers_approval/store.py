"""Approvals at rest: created with their approvers' links and their run's wait in one
transaction, read for the API and the pages (synchronous: call through ``Database``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from highway_triggers.plugin import GatewayContext, HTTPError, WaitRequest, utcnow
from highway_triggers_approval import tokens
from highway_triggers_approval.request import ApprovalRequest
from highway_triggers_approval.tables import APPROVALS, APPROVERS, DECISIONS

PRUNE_BATCH = 500

OWNER = "highway-triggers-approval"
"""The owner of the plugin's waits (its distribution name): only its routes resume them."""
EVENT_NAME = "approval"
PENDING = "pending"


def wait_token(approval_id: str) -> str:
    """The token of the wait an approval's run is suspended on."""
    return f"approval:{approval_id}"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Link:
    """One approver's pair of links."""

    approver: str
    approve_url: str
    reject_url: str


class ApprovalStore:
    """One gateway's statements on the plugin's tables."""

    def __init__(self, context: GatewayContext, mail_domain: str) -> None:
        self._context = context
        self._db = context.database
        self._mail_domain = mail_domain

    async def prune(self, before: datetime) -> int:
        """Delete up to :data:`PRUNE_BATCH` approvals whose run was resumed (decided or
        expired) before ``before``, with their approvers and decisions; how many went."""
        return await self._db.write(self._prune, before)

    def _prune(self, before: datetime) -> int:
        done = APPROVALS.c.resumed_at < before
        with self._db.engine.begin() as conn:
            picked = select(APPROVALS.c.id).where(done).order_by(APPROVALS.c.resumed_at)
            ids: list[str] = list(conn.execute(picked.limit(PRUNE_BATCH)).scalars())
            if not ids:
                return 0
            conn.execute(delete(DECISIONS).where(DECISIONS.c.approval_id.in_(ids)))
            conn.execute(delete(APPROVERS).where(APPROVERS.c.approval_id.in_(ids)))
            gone = conn.execute(delete(APPROVALS).where(APPROVALS.c.id.in_(ids), done))
            return int(gone.rowcount)

    def create(self, request: ApprovalRequest, expires_in: float) -> tuple[str, bool]:
        """The new approval's id and ``True``, or the id of the one the tenant asked for
        with the same ``approval_key`` and ``False``. Its row, its approvers' tokens
        (sealed) and its run's wait are written together or not at all."""
        for _ in range(2):
            try:
                with self._db.engine.begin() as conn:
                    if (found := self._by_key(conn, request)) is not None:
                        return found, False
                    return self._insert(conn, request, expires_in), True
            except IntegrityError:  # the same key, on another replica, at the same moment
                continue
        raise HTTPError(
            409, "APPROVAL_CONFLICT", "a concurrent request took the approval_key; retry"
        )

    def _insert(self, conn: Connection, request: ApprovalRequest, expires_in: float) -> str:
        now = utcnow()
        approval_id = str(uuid.uuid4())
        conn.execute(
            insert(APPROVALS).values(
                id=approval_id,
                **request.model_dump(exclude={"approvers", "expires_in_seconds"}),
                status=PENDING,
                created_at=now,
                expires_at=now + timedelta(seconds=expires_in),
            )
        )
        seal, links = self._context.seal, self._context.links
        conn.execute(
            insert(APPROVERS),
            [
                {
                    "approval_id": approval_id,
                    "position": position,
                    "email": email,
                    "approve_token": seal(issued["approve"]),
                    "reject_token": seal(issued["reject"]),
                    "message_id": make_msgid("approval", self._mail_domain),
                    "notify_attempts": 0,
                }
                for position, email in enumerate(request.approvers)
                for issued in [tokens.issue(links, approval_id, email, expires_in)]
            ],
        )
        wait, _ = self._context.waits.register_in(
            conn,
            WaitRequest(
                tenant_id=request.tenant_id,
                workflow_run_id=request.workflow_run_id,
                workflow_id=request.workflow_id,
                event_name=EVENT_NAME,
                token=wait_token(approval_id),
            ),
            owner=OWNER,
        )
        update_wait = update(APPROVALS).where(APPROVALS.c.id == approval_id)
        conn.execute(update_wait.values(wait_id=wait["wait_id"]))
        return approval_id

    @staticmethod
    def _by_key(conn: Connection, request: ApprovalRequest) -> str | None:
        found: str | None = conn.execute(
            select(APPROVALS.c.id).where(
                APPROVALS.c.tenant_id == request.tenant_id,
                APPROVALS.c.approval_key == request.approval_key,
            )
        ).scalar()
        return found

    def get(self, approval_id: str) -> Row[Any] | None:
        """An approval's row."""
        with self._db.engine.connect() as conn:
            return conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id)).first()

    def view(self, approval_id: str) -> dict[str, Any] | None:
        """An approval as the API shows it: its status, every approver's email state and
        every decision."""
        with self._db.engine.connect() as conn:
            row = conn.execute(select(APPROVALS).where(APPROVALS.c.id == approval_id)).first()
            if row is None:
                return None
            approvers = conn.execute(
                select(APPROVERS)
                .where(APPROVERS.c.approval_id == approval_id)
                .order_by(APPROVERS.c.position)
            ).all()
            decisions = conn.execute(
                select(DECISIONS)
                .where(DECISIONS.c.approval_id == approval_id)
                .order_by(DECISIONS.c.decided_at, DECISIONS.c.approver)
            ).all()
        return _view(row, approvers, decisions)

    def links(self, approval_id: str) -> list[Link]:
        """Each approver's links, in the order the approvers were listed."""
        unseal, base_url = self._context.unseal, self._context.base_url
        with self._db.engine.connect() as conn:
            rows = conn.execute(
                select(APPROVERS.c.email, APPROVERS.c.approve_token, APPROVERS.c.reject_token)
                .where(APPROVERS.c.approval_id == approval_id)
                .order_by(APPROVERS.c.position)
            ).all()
        return [
            Link(
                row.email,
                tokens.url(base_url, approval_id, "approve", unseal(row.approve_token)),
                tokens.url(base_url, approval_id, "reject", unseal(row.reject_token)),
            )
            for row in rows
        ]

    def unannounced(self, before: datetime) -> list[str]:
        """Pending approvals created before ``before`` whose ``approval_pending`` event was
        not emitted (a replica stopped in between)."""
        with self._db.engine.connect() as conn:
            return list(
                conn.execute(
                    select(APPROVALS.c.id).where(
                        APPROVALS.c.status == PENDING,
                        APPROVALS.c.announced_at.is_(None),
                        APPROVALS.c.created_at <= before,
                    )
                ).scalars()
            )

    def announced(self, approval_id: str) -> None:
        with self._db.engine.begin() as conn:
            conn.execute(
                update(APPROVALS).where(APPROVALS.c.id == approval_id).values(announced_at=utcnow())
            )


def _view(
    row: Row[Any], approvers: Sequence[Row[Any]], decisions: Sequence[Row[Any]]
) -> dict[str, Any]:
    mailed = [a.notified_at for a in approvers]
    errors = [a.notify_error for a in approvers if a.notified_at is None and a.notify_error]
    return {
        "approval_id": row.id,
        "status": row.status,
        "tenant_id": row.tenant_id,
        "approval_key": row.approval_key,
        "workflow_run_id": row.workflow_run_id,
        "workflow_id": row.workflow_id,
        "title": row.title,
        "description": row.description,
        "required_approvals": row.required_approvals,
        "allow_self_approval": row.allow_self_approval,
        "requested_by": row.requested_by,
        "one_click": row.one_click,
        "notify": row.notify,
        "redirect_url_approved": row.redirect_url_approved,
        "redirect_url_rejected": row.redirect_url_rejected,
        "approved_by": [d.approver for d in decisions if d.decision == "approve"],
        "approvers": [
            {
                "email": a.email,
                "notified_at": iso(a.notified_at),
                "notify_attempts": a.notify_attempts,
                "notify_error": a.notify_error,
                "message_id": a.message_id,
            }
            for a in approvers
        ],
        "decisions": [
            {
                "approver": d.approver,
                "decision": d.decision,
                "comment": d.comment,
                "decided_at": iso(d.decided_at),
                "client_ip": d.client_ip,
                "user_agent": d.user_agent,
            }
            for d in decisions
        ],
        "notified_at": iso(max(mailed)) if mailed and None not in mailed else None,
        "notify_error": errors[-1] if errors else None,
        "outcome": row.outcome,
        "wait_id": row.wait_id,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "decided_at": iso(row.decided_at),
        "resumed_at": iso(row.resumed_at),
    }
