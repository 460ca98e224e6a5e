"""The TriggerManager: keeps the in-memory index and the running trigger instances
equal to the active rows of ``trigger_index``, on every replica."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select

from highway_triggers.core.changes import read_revision
from highway_triggers.core.index import TriggerIndex
from highway_triggers.core.trigger import BaseTrigger
from highway_triggers.db.database import Database
from highway_triggers.db.tables import DEPLOYED as ACTIVE
from highway_triggers.db.tables import TRIGGERS

if TYPE_CHECKING:
    from highway_triggers.core.context import GatewayContext

log = logging.getLogger(__name__)
_COLUMNS = (
    TRIGGERS.c.id,
    TRIGGERS.c.workflow_id,
    TRIGGERS.c.tenant_id,
    TRIGGERS.c.trigger_subtype,
    TRIGGERS.c.trigger_config,
    TRIGGERS.c.index_key,
    TRIGGERS.c.deployment_status,
    TRIGGERS.c.revision,
)


class TriggerManager:
    """Restores every active trigger at start-up and applies later changes by revision."""

    def __init__(self, db: Database, trigger_types: dict[str, type[BaseTrigger]]) -> None:
        self.index = TriggerIndex()
        self.revision = 0
        self.errors: dict[str, str] = {}
        """Trigger id → why it is not running (unknown subtype, bad config, start failed)."""
        self._db = db
        self._types = trigger_types
        self._context: GatewayContext | None = None
        self._lock = asyncio.Lock()
        self._revision_of: dict[str, int] = {}

    def bind(self, context: GatewayContext) -> None:
        """The context triggers are built with (before the first :meth:`sync`)."""
        self._context = context

    async def sync(self) -> None:
        """Apply every change committed since the last sync (all active rows at first)."""
        async with self._lock:
            revision, rows = await self._db.call(self._load, self.revision)
            for row in rows:
                if row.deployment_status == ACTIVE:
                    await self._activate(row)
                else:
                    await self._deactivate(row.id)
            self.revision = max(self.revision, revision)

    async def stop_all(self) -> None:
        for trigger in list(self.index):
            await self._deactivate(trigger.id)

    def _load(self, since: int) -> tuple[int, list[Row[Any]]]:
        with self._db.engine.connect() as conn:
            revision = read_revision(conn)
            if since and revision == since:
                return revision, []
            query = select(*_COLUMNS)
            if since:
                query = query.where(TRIGGERS.c.revision > since)
            else:
                query = query.where(TRIGGERS.c.deployment_status == ACTIVE)
            return revision, [*conn.execute(query.order_by(TRIGGERS.c.revision))]

    async def _activate(self, row: Row[Any]) -> None:
        if self._revision_of.get(row.id) == row.revision:
            return
        await self._deactivate(row.id)  # an updated trigger is rebuilt from its new row
        self._revision_of[row.id] = row.revision
        cls = self._types.get(row.trigger_subtype)
        if cls is None:
            self.errors[row.id] = f"no installed plugin provides {row.trigger_subtype}"
            log.warning("trigger %s: %s", row.id, self.errors[row.id])
            return
        try:
            config = cls.Config.model_validate(row.trigger_config)
            assert self._context is not None, "TriggerManager.bind(context) first"
            trigger = cls(
                id=row.id,
                workflow_id=row.workflow_id,
                tenant_id=row.tenant_id,
                config=config,
                context=self._context,
                revision=row.revision,
            )
        except Exception as exc:
            self.errors[row.id] = f"invalid stored config: {exc}"
            log.error("trigger %s not restored: %s", row.id, self.errors[row.id])
            return
        self.errors.pop(row.id, None)
        self.index.add(trigger, row.index_key)
        if type(trigger).start is not BaseTrigger.start:
            try:
                await trigger.start()
            except Exception as exc:
                self.errors[row.id] = f"start failed: {type(exc).__name__}: {exc}"
                log.exception("trigger %s failed to start", row.id)

    async def _deactivate(self, trigger_id: str) -> None:
        self.errors.pop(trigger_id, None)
        self._revision_of.pop(trigger_id, None)
        trigger = self.index.remove(trigger_id)
        if trigger is not None and type(trigger).stop is not BaseTrigger.stop:
            try:
                await trigger.stop()
            except Exception:
                log.exception("trigger %s failed to stop", trigger_id)
