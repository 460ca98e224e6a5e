"""The email plugin's service in one gateway: a watcher per mailbox, each run under the
mailbox's lease (one replica at a time), and what health and the API show of them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from highway_triggers.plugin import GatewayContext
from highway_triggers_email.cursors import CursorStore
from highway_triggers_email.metrics import EmailMetrics
from highway_triggers_email.settings import EmailSettings
from highway_triggers_email.watcher import Watcher

if TYPE_CHECKING:
    from highway_triggers_email.trigger import EmailTrigger


def service_of(context: GatewayContext) -> EmailService:
    """The gateway's email service, made on first use (triggers start before start-up)."""
    return context.state(EmailService, lambda: EmailService(context))


class EmailService:
    """Watchers by mailbox id; a watcher runs while it has triggers."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self.settings = context.plugin_settings(EmailSettings)
        self.store = CursorStore(context.database)
        self.metrics = EmailMetrics(context.metrics, self._connected)
        self._watchers: dict[str, Watcher] = {}
        self._stopping: dict[str, asyncio.Task[None]] = {}

    async def add(self, trigger: EmailTrigger) -> None:
        """Watch the trigger's mailbox (already watched: one more trigger takes its mail)."""
        mailbox_id = trigger.config.mailbox_id
        if (stopping := self._stopping.get(mailbox_id)) is not None:
            await asyncio.shield(stopping)
        watcher = self._watchers.get(mailbox_id)
        if watcher is not None:
            watcher.add(trigger)
            return
        watcher = Watcher(mailbox_id, self._context, self.settings, self.store, self.metrics)
        watcher.add(trigger)
        self._watchers[mailbox_id] = watcher
        leases, ttl = self._context.leases, self.settings.lease_seconds
        self._context.tasks.spawn(
            watcher.lease, lambda: leases.run_while_held(watcher.lease, ttl, watcher.run)
        )

    async def remove(self, trigger: EmailTrigger) -> None:
        """Stop taking the mailbox's mail for ``trigger``; its last trigger stops its watcher."""
        mailbox_id = trigger.config.mailbox_id
        watcher = self._watchers.get(mailbox_id)
        if watcher is None or trigger.id not in watcher.triggers:
            return
        watcher.remove(trigger.id)
        if watcher.triggers:
            return
        del self._watchers[mailbox_id]
        stopping = asyncio.ensure_future(self._context.tasks.cancel(watcher.lease))
        self._stopping[mailbox_id] = stopping
        try:
            await asyncio.shield(stopping)
        finally:
            if self._stopping.get(mailbox_id) is stopping:
                del self._stopping[mailbox_id]

    def health(self) -> dict[str, Any]:
        """For ``/health/detailed``: each mailbox, and ``problems`` (the gateway is
        ``degraded`` while a watched mailbox fails or goes unchecked)."""
        watchers = sorted(self._watchers.values(), key=lambda w: w.label)
        return {
            "mailboxes": [w.describe() for w in watchers],
            "problems": [p for w in watchers if (p := w.problem()) is not None],
        }

    async def mailboxes(self) -> list[dict[str, Any]]:
        """Each mailbox with the replica holding its lease and its stored cursor."""
        cursors = await self.store.all()
        found = []
        for watcher in sorted(self._watchers.values(), key=lambda w: w.label):
            holder = await self._context.leases.holder(watcher.lease)
            found.append(
                {
                    **watcher.describe(),
                    "holder": holder,
                    "cursor": cursors.get(watcher.mailbox_id),
                }
            )
        return found

    def _connected(self) -> int:
        return sum(w.state.connected for w in self._watchers.values())
