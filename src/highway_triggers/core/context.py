"""The context a plugin sees of a running gateway: handed to every hook as ``gateway``
and to every trigger as ``self.context``. It is small on purpose; everything on it is
documented in ``docs/plugins.md`` and may be relied on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy import Connection, select

from highway_triggers.core.auth_objects import AuthObject
from highway_triggers.core.changes import listen
from highway_triggers.core.guard import IngressGuard
from highway_triggers.core.ipfilter import Networks
from highway_triggers.core.leases import Leases
from highway_triggers.core.links import SignedLinks
from highway_triggers.core.plugin_settings import PluginSettings
from highway_triggers.core.tasks import Tasks
from highway_triggers.core.trigger import BaseTrigger
from highway_triggers.core.waits import WaitRequest, WaitService
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.driver import placeholder
from highway_triggers.db.tables import DEPLOYED, TRIGGERS
from highway_triggers.settings import Settings

if TYPE_CHECKING:
    from highway_triggers.core.deployment import Deployments
    from highway_triggers.core.index import TriggerIndex
    from highway_triggers.core.router import EventRouter
    from highway_triggers.core.secrets import SecretCipher

T = TypeVar("T")
S = TypeVar("S", bound=PluginSettings)


class TriggerLookup:
    """The deployed triggers, for verify-before-route and for sources' own claims."""

    def __init__(self, index: TriggerIndex, db: Database) -> None:
        self._index = index
        mark = placeholder(db.dialect)
        self._current = (
            f"SELECT 1 FROM trigger_index WHERE id = {mark} AND deployment_status = '{DEPLOYED}'"
            f" AND revision = {mark}{' FOR SHARE' if db.is_postgres else ''}"
        )

    def candidates(self, subtype: str, index_keys: Iterable[str]) -> list[BaseTrigger]:
        """Phase 1 only: the active triggers of ``subtype`` keyed by one of ``index_keys``,
        or key-less. Verify the request with each one's own secret, then hand the ones
        that passed to ``router.route(event, among=…)`` (phase 2 and the tenant check
        still apply there)."""
        return self._index.candidates(subtype, tuple(index_keys))

    def of_workflow(self, workflow_id: str, subtype: str | None = None) -> list[BaseTrigger]:
        """The active triggers of one workflow on this replica."""
        return self._index.of_workflow(workflow_id, subtype)

    def is_current(self, conn: Connection, trigger: BaseTrigger) -> bool:
        """Inside a claim: whether ``trigger``'s version is still the deployed one. On
        PostgreSQL the row is share-locked until commit, so an undeploy or update waits for
        this transaction or is seen by it."""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self._current, (trigger.id, trigger.revision))
            return cursor.fetchone() is not None
        finally:
            cursor.close()

    @staticmethod
    def stored_config(conn: Connection, trigger_id: str) -> dict[str, Any] | None:
        """The stored config of a deployed trigger (``None`` once it is undeployed)."""
        config: dict[str, Any] | None = conn.execute(
            select(TRIGGERS.c.trigger_config).where(
                TRIGGERS.c.id == trigger_id, TRIGGERS.c.deployment_status == DEPLOYED
            )
        ).scalar()
        return config

    @staticmethod
    def deployed_since(conn: Connection, subtype: str) -> dict[str, datetime]:
        """``trigger id → when its current version was deployed``, for the deployed
        triggers of ``subtype`` (e.g. where a schedule's catch-up starts)."""
        rows = conn.execute(
            select(TRIGGERS.c.id, TRIGGERS.c.updated_at).where(
                TRIGGERS.c.trigger_subtype == subtype, TRIGGERS.c.deployment_status == DEPLOYED
            )
        )
        return {row.id: row.updated_at for row in rows}


class PluginWaits:
    """Waits a plugin registers itself (a per-run webhook, an approval)."""

    def __init__(self, service: WaitService) -> None:
        self._service = service

    def register_in(
        self, conn: Connection, request: WaitRequest, *, owner: str
    ) -> tuple[dict[str, Any], bool]:
        """Register a wait inside the plugin's own transaction (its row and the wait are
        written together or not at all); ``(wait view, created)``. Only the plugin's own
        routes resume it: ``router.route(event, wait_owner=owner)``."""
        return self._service.register_in(conn, request, owner=owner)

    def get(self, wait_id: str) -> dict[str, Any] | None:
        """A wait as ``GET /api/v1/waits/{id}`` shows it (sync: call from a thread)."""
        return self._service.get(wait_id)

    def cancel(self, wait_id: str) -> dict[str, Any] | None:
        """Close an open wait without resuming its run (sync: call from a thread)."""
        return self._service.cancel(wait_id)


class GatewayContext:
    """What plugins use of a running gateway (see ``docs/plugins.md``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        router: EventRouter,
        triggers: TriggerLookup,
        deployments: Deployments,
        database: Database,
        waits: PluginWaits,
        leases: Leases,
        tasks: Tasks,
        links: SignedLinks,
        cipher: SecretCipher,
        metrics: CollectorRegistry,
    ) -> None:
        self.settings = settings
        """The gateway's settings (``HIGHWAY_*``); read only."""
        self.router = router
        """``route(event, claim=…, among=…, wait_owner=…)``, ``emit(name, payload, …)``."""
        self.triggers = triggers
        self.deployments = deployments
        """Deploy and change triggers; each change is applied on this replica before it returns."""
        self.database = database
        """The database, for the plugin's own tables (never the core's)."""
        self.waits = waits
        self.leases = leases
        self.tasks = tasks
        self.links = links
        self.metrics = metrics
        """The Prometheus registry ``/metrics`` serves."""
        self.trusted_proxies = Networks.from_csv(settings.trusted_proxies)
        """``HIGHWAY_TRUSTED_PROXIES``, for ``IngressGuard.admit``."""
        self._cipher = cipher
        self._state: dict[object, Any] = {}
        self._settings: dict[type[PluginSettings], PluginSettings] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        """The gateway's event loop once it runs (for a plugin's threads)."""

    @property
    def base_url(self) -> str:
        """Where the gateway is reached (``HIGHWAY_PUBLIC_URL``): the base of URLs handed out."""
        return self.settings.base_url

    @property
    def replica_id(self) -> str:
        """This replica's identity, as lease holder."""
        return self.leases.replica_id

    def seal(self, secret: str) -> str:
        """Encrypt a secret for storage (``HIGHWAY_SECRET_KEY``); sealed values stay sealed."""
        return self._cipher.seal(secret)

    def unseal(self, value: str) -> str:
        """The plaintext of a sealed secret."""
        return self._cipher.unseal(value)

    def guard(
        self, auth: AuthObject, *, sealed: bool = True, max_body_bytes: int | None = None
    ) -> IngressGuard:
        """The ingress checks of requests signed as ``auth``: its secrets sealed (a trigger's
        config) or, with ``sealed=False``, as they are (a plugin's settings); bodies up to
        the gateway's limit, or ``max_body_bytes`` when smaller."""
        limit = self.settings.max_body_bytes
        return IngressGuard.build(
            auth,
            self.unseal if sealed else str,
            max_body_bytes=limit if max_body_bytes is None else min(limit, max_body_bytes),
        )

    def prune_every_interval(
        self,
        name: str,
        prune: Callable[[datetime], Awaitable[int]],
        *,
        retention: timedelta,
        batch: int,
    ) -> None:
        """Keep a plugin's table to its retention: a supervised task (``name``) calls
        ``await prune(cutoff)`` with ``cutoff`` = now − ``retention`` while it deletes a whole
        ``batch`` of rows, then again every ``HIGHWAY_PRUNE_INTERVAL_SECONDS``, as the core
        prunes its own tables."""

        async def keep() -> None:
            while True:
                while await prune(utcnow() - retention) >= batch:
                    pass
                await asyncio.sleep(self.settings.prune_interval_seconds)

        self.tasks.spawn(name, keep)

    def state(self, key: object, factory: Callable[[], T]) -> T:
        """This gateway's instance of a plugin's state under ``key`` (e.g. its service
        class), made by ``factory`` on first use: no module-level registries."""
        if key not in self._state:
            self._state[key] = factory()
        found: T = self._state[key]
        return found

    def plugin_settings(self, kind: type[S]) -> S:
        """A plugin's settings, read and validated once (``PluginSettingsError`` names
        every bad variable)."""
        if kind not in self._settings:
            self._settings[kind] = kind.load()
        found: S = self._settings[kind]  # type: ignore[assignment]
        return found

    async def listen(self, channel: str, on_notify: Callable[[str], None]) -> None:
        """Call ``on_notify(payload)`` for each PostgreSQL ``NOTIFY`` on ``channel`` until
        cancelled (run it as a task); on SQLite it returns at once: poll instead."""
        if self.database.is_postgres:
            await listen(
                self.database, channel, on_notify, self.settings.reconcile_interval_seconds
            )
