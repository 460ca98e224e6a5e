"""``slack_prompts``: each posted prompt and its wait, written together; the click that
answers it, claimed once inside the ingress transaction; pruned after the retention
period once answered or expired."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select
from sqlalchemy.exc import IntegrityError

from highway_triggers.plugin import (
    Claim,
    DriverSQL,
    GatewayContext,
    HTTPError,
    WaitRequest,
    delete_oldest,
    utcnow,
)
from highway_triggers_slack.prompts import OWNER, PromptRequest
from highway_triggers_slack.tables import PROMPTS
from highway_triggers_slack.web_api import Posted

PRUNE_BATCH = 1_000


class PromptExists(Exception):
    """Another request with the same idempotency key stored its prompt first."""


@dataclass(slots=True)
class Refusal:
    """Why a click's claim refused it, once it has."""

    error: HTTPError = field(
        default_factory=lambda: HTTPError(409, "PROMPT_REFUSED", "the prompt took no click")
    )


class PromptStore:
    """One gateway's statements on ``slack_prompts``."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self._database = context.database
        self._sql = DriverSQL(context.database.dialect)
        mark = self._sql.mark
        self._answer = (
            f"UPDATE slack_prompts SET answered_at = {mark}, answered_by = {mark}, "
            f"answer = {mark} WHERE token = {mark} AND answered_at IS NULL "
            f"AND (expires_at IS NULL OR expires_at > {mark})"
        )
        self._state = f"SELECT id, answered_at, answered_by FROM slack_prompts WHERE token = {mark}"

    def create(
        self, request: PromptRequest, prompt_id: str, token: str, posted: Posted
    ) -> dict[str, Any]:
        """Store a posted prompt and register its wait (owned by the plugin, on ``token``)
        in one transaction; its view. :class:`PromptExists` when another request with the
        same idempotency key stored one first (nothing of this one is stored)."""
        wait = request.wait
        now = utcnow()
        try:
            with self._database.engine.begin() as conn:
                view, _ = self._context.waits.register_in(
                    conn,
                    WaitRequest(
                        tenant_id=wait.tenant_id,
                        workflow_run_id=wait.workflow_run_id,
                        workflow_id=wait.workflow_id,
                        event_name=wait.event_name,
                        token=token,
                        timeout_seconds=wait.timeout_seconds,
                    ),
                    owner=OWNER,
                )
                expires = view["expires_at"]
                row = {
                    "id": prompt_id,
                    "token": token,
                    "tenant_id": wait.tenant_id,
                    "workflow_run_id": wait.workflow_run_id,
                    "idempotency_key": request.idempotency_key,
                    "wait_id": view["wait_id"],
                    "team_id": request.workspace_id or posted.team,
                    "channel_id": posted.channel,
                    "ts": posted.ts,
                    "thread_ts": request.thread_ts,
                    "expires_at": datetime.fromisoformat(expires) if expires else None,
                    "created_at": now,
                }
                conn.execute(insert(PROMPTS).values(**row))
        except IntegrityError:
            raise PromptExists from None
        return _view(row)

    def by_key(self, tenant_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The prompt stored with this tenant's idempotency key, if any (sync)."""
        query = select(PROMPTS).where(
            PROMPTS.c.tenant_id == tenant_id, PROMPTS.c.idempotency_key == idempotency_key
        )
        with self._database.engine.connect() as conn:
            found = conn.execute(query).mappings().first()
        return None if found is None else _view(found)

    def claim(self, token: str, user: str | None, answer: str) -> tuple[Claim, Refusal]:
        """The click answering the prompt of ``token`` as a claim of its ingress
        transaction: the first click before the prompt expires takes it (who, which
        value); any other is refused, and :class:`Refusal` says why."""
        refusal = Refusal()

        def take(conn: Connection) -> bool:
            cursor = conn.connection.cursor()
            try:
                now = self._sql.timestamp(utcnow())
                cursor.execute(self._answer, (now, user, answer, token, now))
                if cursor.rowcount == 1:
                    return True
                cursor.execute(self._state, (token,))
                found = cursor.fetchone()
            finally:
                cursor.close()
            refusal.error = _refused(found)
            return False

        return take, refusal

    async def prune(self, before: datetime) -> int:
        """Delete up to :data:`PRUNE_BATCH` prompts answered or expired before ``before``."""
        return await self._database.write(self._prune, before)

    def _prune(self, before: datetime) -> int:
        old = or_(PROMPTS.c.answered_at < before, PROMPTS.c.expires_at < before)
        with self._database.engine.begin() as conn:
            return delete_oldest(
                conn, PROMPTS.c.id, old, order_by=PROMPTS.c.created_at, limit=PRUNE_BATCH
            )


def _refused(found: Any) -> HTTPError:
    """The error a refused click is logged with: ``found`` is the prompt's id, when it
    was answered (``None``: it expired unanswered) and by whom, or ``None`` when no prompt
    holds the token."""
    if found is None:
        return HTTPError(409, "PROMPT_UNKNOWN", "no prompt has this button's token")
    prompt_id, answered_at, answered_by = found
    if answered_at is None:
        return HTTPError(409, "PROMPT_EXPIRED", f"prompt {prompt_id} has expired")
    who = answered_by or "a user Slack did not name"
    return HTTPError(409, "PROMPT_ANSWERED", f"prompt {prompt_id} was already answered by {who}")


def _view(row: Any) -> dict[str, Any]:
    """A prompt as ``POST /api/v1/slack/prompts`` answers it."""
    thread = row["thread_ts"] or row["ts"]
    team = row["team_id"]
    expires = row["expires_at"]
    return {
        "prompt_id": row["id"],
        "channel": row["channel_id"],
        "ts": row["ts"],
        "thread_ts": thread,
        "thread_key": f"slack:{team}:{row['channel_id']}:{thread}" if team else None,
        "token": row["token"],
        "wait_id": row["wait_id"],
        "expires_at": expires.isoformat() if expires else None,
    }
