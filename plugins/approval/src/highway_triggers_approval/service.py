"""One gateway's approvals: asked for, answered, closed and resumed once, announced and
mailed; and the supervised work that expires them and retries what failed."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from highway_triggers import Event
from highway_triggers.plugin import ConfigError, GatewayContext, utcnow
from highway_triggers_approval import tokens
from highway_triggers_approval.decide import Answer, Decisions, Recorded
from highway_triggers_approval.messages import approval_email
from highway_triggers_approval.metrics import ApprovalMetrics
from highway_triggers_approval.outbox import Email, MailOutbox
from highway_triggers_approval.request import ApprovalRequest
from highway_triggers_approval.settings import ApprovalSettings
from highway_triggers_approval.smtp import SmtpServer
from highway_triggers_approval.store import OWNER, PENDING, ApprovalStore, wait_token
from highway_triggers_approval.trigger import SUBTYPE

log = logging.getLogger(__name__)

BATCH = 100
RECOVERY_POLLS = 10
"""Work a request does itself (announce, resume) is left to the sweep only this many polls
(``HIGHWAY_APPROVAL_POLL_SECONDS``) after: by then the request did it, or it stopped."""
PENDING_EVENT = "approval_pending"


class ApprovalService:
    """Approvals of one gateway."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self._db = context.database
        self.settings = context.plugin_settings(ApprovalSettings)
        self.store = ApprovalStore(context, self.settings.mail_domain)
        self.decisions = Decisions(context.database, context.links)
        self.outbox = MailOutbox(context.database)
        self.metrics = ApprovalMetrics(context.metrics)
        self._wake = asyncio.Event()
        self.smtp_error: str | None = None
        """Why the last approval email failed; ``None`` once one was sent (health)."""

    async def request(self, body: ApprovalRequest) -> tuple[dict[str, Any], bool]:
        """The approval asked for (new, or the tenant's with the same key) with its links,
        and whether it is new. Its emails go out once it is committed."""
        if body.notify == "email" and self.settings.smtp_url is None:
            message = "HIGHWAY_SMTP_URL is not set: give notify none, or configure SMTP"
            raise ConfigError([{"field": "notify", "message": message}])
        expires_in = body.expires_in_seconds or self.settings.default_expiry_seconds
        approval_id, created = await self._db.write(self.store.create, body, expires_in)
        self.metrics.requested(created)
        if created:
            self._wake.set()  # its emails
            await self._soon(self.announce, approval_id)
        view = await self.view(approval_id)
        links = await self._db.call(self.store.links, approval_id)
        assert view is not None
        first = links[0]
        return {
            **view,
            "approve_url": first.approve_url,
            "reject_url": first.reject_url,
            "links": [asdict(link) for link in links],
        }, created

    async def view(self, approval_id: str) -> dict[str, Any] | None:
        """An approval as the API shows it."""
        return await self._db.call(self.store.view, approval_id)

    async def answer(self, answer: Answer) -> Recorded:
        """Record an approver's decision; when it decides the approval, resume the run."""
        recorded = await self._db.write(self.decisions.record, answer)
        self.metrics.decided(recorded.decision)
        if recorded.status != PENDING:
            await self._soon(self.finish, answer.approval_id)
        return recorded

    async def _soon(self, step: Callable[[str], Awaitable[None]], approval_id: str) -> None:
        """Take a step a request owes once it committed; when it fails, the request is
        answered all the same and the sweep takes the step (:data:`RECOVERY_POLLS`)."""
        try:
            await step(approval_id)
        except Exception:
            log.exception(
                "approval %s: %s failed; the sweep retries it", approval_id, step.__name__
            )

    async def finish(self, approval_id: str) -> None:
        """Resume a decided approval's run with its outcome, once: through the router, with
        a claim that marks the approval resumed in the same transaction. A deployed
        ``APPROVAL`` trigger of the tenant whose ``statuses`` hold the outcome starts too."""
        row = await self._db.call(self.store.get, approval_id)
        if row is None or row.status == PENDING or row.resumed_at is not None:
            return
        result = await self._context.router.route(
            Event(
                subtype=SUBTYPE,
                index_keys=(),
                payload=dict(row.outcome),
                tenant_id=row.tenant_id,
                idempotency_key=f"approval:{approval_id}",
                correlation_keys=(wait_token(approval_id),),
            ),
            claim=self.decisions.finish_claim(approval_id),
            tokens_only=True,
            wait_owner=OWNER,
        )
        if not (result.refused or result.duplicate):
            self.metrics.closed(row.status)

    async def announce(self, approval_id: str) -> None:
        """Emit the tenant event ``approval_pending`` (once: its idempotency key)."""
        view = await self.view(approval_id)
        if view is None:
            return
        payload = {
            name: view[name]
            for name in (
                "approval_id", "approval_key", "workflow_run_id", "workflow_id", "title",
                "required_approvals", "requested_by", "notify", "expires_at",
            )
        }  # fmt: skip
        payload["approvers"] = [a["email"] for a in view["approvers"]]
        await self._context.router.emit(
            PENDING_EVENT,
            payload,
            tenant_id=view["tenant_id"],
            idempotency_key=f"{PENDING_EVENT}:{approval_id}",
        )
        await self._db.write(self.store.announced, approval_id)

    async def work(self) -> None:
        """The supervised task: sweep, then sleep ``HIGHWAY_APPROVAL_POLL_SECONDS`` or
        until a new approval wakes it."""
        while True:
            self._wake.clear()
            await self.sweep()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    async def sweep(self) -> None:
        """Expire what is due, finish and announce what a stopped replica left undone, and
        send the emails due."""
        for approval_id in await self._db.write(self.decisions.expire_due, BATCH):
            await self.finish(approval_id)
        before = utcnow() - timedelta(seconds=RECOVERY_POLLS * self.settings.poll_seconds)
        for approval_id in await self._db.call(self.decisions.unfinished, before):
            await self.finish(approval_id)
        for approval_id in await self._db.call(self.store.unannounced, before):
            await self.announce(approval_id)
        server = self.settings.smtp
        if server is not None:
            for email in await self._db.write(self.outbox.claim, BATCH):
                await self.send(server, email)

    async def send(self, server: SmtpServer, email: Email) -> None:
        """Send one approval email; a failure is recorded and retried after a backoff."""
        unseal, base_url = self._context.unseal, self._context.base_url
        approve = tokens.url(base_url, email.approval_id, "approve", unseal(email.approve_token))
        reject = tokens.url(base_url, email.approval_id, "reject", unseal(email.reject_token))
        message = approval_email(email, self.settings.mail_from, approve, reject)
        try:
            await self._context.tasks.run_blocking(
                server.send, message, self.settings.smtp_timeout_seconds
            )
        except (OSError, smtplib.SMTPException) as error:
            retry_in = min(
                self.settings.retry_initial_seconds * 2**email.attempts,
                self.settings.retry_max_seconds,
            )
            reason = f"{type(error).__name__}: {error}"
            log.warning(
                "approval %s: email to approver %d failed, retried in %.1f s: %s",
                email.approval_id, email.position, retry_in, reason,
            )  # fmt: skip
            await self._db.write(self.outbox.failed, email, reason, retry_in)
            self.metrics.emailed(False)
            self.smtp_error = reason
            return
        await self._db.write(self.outbox.sent, email)
        self.metrics.emailed(True)
        self.smtp_error = None
