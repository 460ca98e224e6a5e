"""The Gateway: every part of a running highway-triggers process, wired together."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import textwrap
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_

from highway_triggers.core.auth import Authenticator
from highway_triggers.core.changes import ChangeFeed
from highway_triggers.core.context import GatewayContext, PluginWaits, TriggerLookup
from highway_triggers.core.deployment import Deployments, DeploymentService
from highway_triggers.core.delivery_log import delete_before
from highway_triggers.core.dispatcher import Dispatcher
from highway_triggers.core.dispatches import delete_finished
from highway_triggers.core.engine import EngineAdapter
from highway_triggers.core.ingress import IngressWriter
from highway_triggers.core.leases import Leases, new_replica_id
from highway_triggers.core.links import SignedLinks, link_key
from highway_triggers.core.manager import TriggerManager
from highway_triggers.core.metrics import Metrics
from highway_triggers.core.plugins import Plugins, load_plugins
from highway_triggers.core.ratelimit import RateLimiter
from highway_triggers.core.router import EventRouter
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.core.tasks import Tasks
from highway_triggers.core.templates import TemplateService
from highway_triggers.core.tracing import Tracing
from highway_triggers.core.tenants import TenantService
from highway_triggers.core.waits import WaitService, early
from highway_triggers.core.waits.timeouts import WaitTimeouts
from highway_triggers.db import migrate
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import DEAD, DELIVERED, DELIVERIES, SKIPPED
from highway_triggers.settings import Settings

log = logging.getLogger(__name__)
GC_YOUNG_THRESHOLD = 50_000
PRUNE_CHUNK = 1_000
"""Rows of each kind pruning deletes per transaction (see ``Gateway.prune``): a chunk of
finished dispatches with their payloads holds SQLite's inline writer for a few ms."""
MAX_TRIGGER_PROBLEMS = 20
"""Triggers not running that ``Gateway.problems`` names one by one; the rest are counted."""
PROBLEM_CHARS = 240


async def await_me_maybe(value: Any) -> Any:
    """Await what a hook returned when it is awaitable (or an async callable)."""
    if callable(value) and inspect.iscoroutinefunction(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


class Gateway:
    """Settings, plugins, database, trigger manager, router, outbox, dispatcher and waits:
    the composition root. Plugins never see it, only its :attr:`context`."""

    def __init__(
        self, settings: Settings, plugins: Plugins | None = None, tracing: Tracing | None = None
    ) -> None:
        self.settings = settings
        self.tracing = tracing or Tracing.from_settings(settings)
        self.plugins = plugins or load_plugins(settings.load_plugins, settings.trace_plugins)
        self.db = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
        secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.cipher = SecretCipher.from_settings(secret_key, settings.secret_key_file)
        self.metrics = Metrics()
        self.manager = TriggerManager(self.db, self.plugins.trigger_types)
        self.engine = self._make_engine()
        self.writer = IngressWriter(
            self.db,
            max_batch=settings.writer_max_batch,
            lease_seconds=settings.dispatch_lease_seconds,
            lookback_seconds=settings.early_event_lookback_seconds,
            on_commit=lambda jobs: self.dispatcher.accept(jobs),
            tracing=self.tracing,
        )
        self.dispatcher = Dispatcher(
            self.db, self.engine, self.writer, settings, self.metrics, self.tracing
        )
        self.router = EventRouter(self.manager.index, self.writer, self.metrics, self.tracing)
        self.waits = WaitService(self.db, settings.base_url, self.metrics)
        self.timeouts = WaitTimeouts(self.db, self.dispatcher, settings, self.metrics)
        self.deployments = Deployments(
            DeploymentService(
                self.db,
                self.plugins.trigger_types,
                self.cipher,
                paused_runs=self.engine.lists_paused_runs,
            ),
            self.manager,
        )
        self.leases = Leases(self.db, new_replica_id())
        self.tasks = Tasks(
            self.metrics.registry,
            initial_backoff=settings.task_backoff_initial_seconds,
            max_backoff=settings.task_backoff_max_seconds,
        )
        self.links = SignedLinks(self.db, link_key(self.cipher.key))
        admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
        self.auth = Authenticator(self.db, self.cipher, admin_token)
        self.tenants = TenantService(self.db, self.cipher)
        self.templates = TemplateService(self.db)
        self.event_limits = RateLimiter(
            settings.events_rate_limit_per_second, settings.events_burst
        )
        self.changes = ChangeFeed(self.db, settings.reconcile_interval_seconds, self.manager.sync)
        self.metrics.watch_gauges(
            "highway_active_triggers",
            "Active triggers on this replica, by subtype.",
            "subtype",
            self.manager.index.count_by_subtype,
        )
        self.context = GatewayContext(
            settings=settings,
            router=self.router,
            triggers=TriggerLookup(self.manager.index, self.db),
            deployments=self.deployments,
            database=self.db,
            waits=PluginWaits(self.waits),
            leases=self.leases,
            tasks=self.tasks,
            links=self.links,
            cipher=self.cipher,
            metrics=self.metrics.registry,
        )
        self.manager.bind(self.context)
        self.deployments.bind(self.context)
        self._housekeeping: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the gateway runs on (for plugins' threads), once started."""

    def _make_engine(self) -> EngineAdapter:
        engine_cls = self.plugins.engines.get(self.settings.engine)
        if engine_cls is None:
            known = ", ".join(sorted(self.plugins.engines))
            raise RuntimeError(
                f"HIGHWAY_ENGINE={self.settings.engine!r} is not installed (have: {known})"
            )
        engine: EngineAdapter = engine_cls(self.settings)
        return engine

    def upgrade_schema_if_needed(self) -> None:
        """Migrate on start-up when allowed (SQLite by default), else refuse a stale schema."""
        locations = self.plugins.migration_locations()
        auto = self.settings.auto_migrate
        if auto if auto is not None else self.settings.is_sqlite:
            migrate.upgrade(self.db, locations)
        elif missing := migrate.pending(self.db, locations):
            raise RuntimeError(
                f"the database schema is behind ({', '.join(sorted(missing))}): "
                "run `highway-triggers db upgrade`"
            )

    async def start(self) -> None:
        """Writer and dispatcher first, so that a trigger may fire from ``start()``; then
        the triggers are restored and started; then the plugins' start-up hooks."""
        self.loop = self.context.loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.upgrade_schema_if_needed)
        self.writer.start()
        await self.dispatcher.start()
        self.tasks.start()
        await self.manager.sync()
        # Restored triggers live as long as the process: keep the collector from walking
        # them again and again (a full collection at 1M triggers takes seconds), and let
        # the young generation grow, since each request allocates a few hundred objects.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        self.timeouts.start()
        self.changes.start()
        self._housekeeping = asyncio.create_task(self._prune(), name="highway-housekeeping")
        await self._call_lifecycle_hook("highway_startup")
        log.info(
            "gateway started: %d active triggers, engine %s, plugins %s",
            len(self.manager.index),
            self.settings.engine,
            ", ".join(p.name for p in self.plugins.loaded),
        )

    async def stop(self) -> None:
        """The reverse of :meth:`start`: plugins' shut-down hooks, their tasks, the
        triggers (which may still fire from ``stop()``), then the writer and dispatcher."""
        await self._call_lifecycle_hook("highway_shutdown")
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        await self.changes.stop()
        await self.timeouts.stop()
        await self.tasks.stop()
        await self.manager.stop_all()
        await self.dispatcher.stop()
        await self.writer.stop()
        await self.engine.aclose()
        self.db.close()
        await asyncio.to_thread(self.tracing.shutdown)

    def plugins_health(self) -> dict[str, Any]:
        """Each plugin's ``highway_health`` answer; one that raised shows its error."""
        return {
            name: {"error": f"{type(answer).__name__}: {answer}"}
            if isinstance(answer, Exception)
            else answer
            for name, answer in self.plugins.answers("highway_health", gateway=self.context)
        }

    def problems(self, plugins_health: dict[str, Any] | None = None) -> list[str]:
        """What this replica cannot do, one short line each: plugins that failed, triggers
        not running (the first :data:`MAX_TRIGGER_PROBLEMS`), supervised tasks that failed
        or wait to restart after a crash, and the ``problems`` plugins report in their
        ``highway_health`` answers (``plugins_health``, by plugin name)."""
        found = [f"plugin {p.label} failed: {p.error}" for p in self.plugins.failed]
        not_running = list(self.manager.errors.items())
        found += [
            f"trigger {trigger_id} not running: {why}"
            for trigger_id, why in not_running[:MAX_TRIGGER_PROBLEMS]
        ]
        if len(not_running) > MAX_TRIGGER_PROBLEMS:
            found.append(f"{len(not_running) - MAX_TRIGGER_PROBLEMS} more triggers not running")
        found += [
            f"task {name} {task['state']}: {task['last_error']}"
            for name, task in self.tasks.health().items()
            if task["state"] in ("failed", "restarting")
        ]
        for name, answer in (plugins_health or {}).items():
            reported = answer.get("problems") if isinstance(answer, dict) else None
            if isinstance(reported, list):
                found += [f"plugin {name}: {p}" for p in reported[:MAX_TRIGGER_PROBLEMS]]
        return [textwrap.shorten(problem, PROBLEM_CHARS, placeholder=" …") for problem in found]

    async def _call_lifecycle_hook(self, hook_name: str) -> None:
        """Call and await every plugin's hook; one that fails is reported, not fatal."""
        for plugin_name, result in self.plugins.call_each(hook_name, gateway=self.context):
            try:
                await await_me_maybe(result)
            except Exception as exc:
                self.plugins.fail(plugin_name, hook_name, exc)

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prune_interval_seconds)
            try:
                await self.prune()
            except Exception:
                log.exception("pruning old deliveries failed")

    async def prune(self) -> int:
        """Forget dedup and delivery log rows past the retention period, kept events past
        the lookback and finished dispatches past theirs; returns how many rows went.

        A chunk of :data:`PRUNE_CHUNK` rows per transaction, with the loop let run in
        between: on SQLite the writer runs on the event loop, and one transaction for an
        hour of deliveries at thousands per second would stall every request for seconds.
        """
        now, settings = utcnow(), self.settings
        cutoff = now - timedelta(hours=settings.delivery_retention_hours)
        finished = now - timedelta(hours=settings.dispatch_retention_hours)
        dispatches = {
            DELIVERED: finished,
            SKIPPED: finished,
            DEAD: now - timedelta(hours=settings.dead_dispatch_retention_hours),
        }
        deleted = 0
        while True:
            chunk = await self.db.write(self._delete_old_rows, cutoff, dispatches, PRUNE_CHUNK)
            deleted += chunk
            if chunk < PRUNE_CHUNK:  # no table had a full chunk left
                return deleted
            await asyncio.sleep(0)

    def _delete_old_rows(self, cutoff: Any, dispatches: dict[str, Any], limit: int) -> int:
        """At most ``limit`` old deliveries, ``limit`` old delivery log rows, ``limit``
        expired kept events, ``limit`` finished dispatches of each status and the used
        links past their expiry."""
        old_deliveries = (
            select(DELIVERIES.c.source, DELIVERIES.c.delivery_id)
            .where(DELIVERIES.c.received_at < cutoff)
            .limit(limit)
        )
        key = tuple_(DELIVERIES.c.source, DELIVERIES.c.delivery_id)
        now = utcnow()
        with self.db.engine.begin() as conn:
            deliveries = conn.execute(delete(DELIVERIES).where(key.in_(old_deliveries))).rowcount
            logged = delete_before(conn, cutoff, limit)
            events = early.delete_expired(conn, now, limit)
            links = self.links.prune_in(conn, now)
            finished = delete_finished(conn, dispatches, limit)
        return int(deliveries) + logged + events + links + finished
