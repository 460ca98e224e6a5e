"""The poller of one GOOGLE_CALENDAR trigger: while this replica holds the trigger's lease
it syncs the calendar incrementally (a sync token, stored with the dispatch of the sync's
last change), fires ``starting`` changes on time, keeps a push channel open when asked,
and waits for the next poll or a push; failures back off (capped), revoked credentials
stop the trigger and show in health."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import textwrap
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from highway_triggers import Event
from highway_triggers.plugin import GatewayContext, utcnow
from highway_triggers_gcal.config import OAuthCredentials
from highway_triggers_gcal.events import change_of, key, start_of, timestamp, trigger_data
from highway_triggers_gcal.google import Calendar, Page, Revoked, SyncTokenGone, Tokens
from highway_triggers_gcal.metrics import GcalMetrics
from highway_triggers_gcal.settings import GcalSettings
from highway_triggers_gcal.store import Channel, Store, SyncState

if TYPE_CHECKING:
    from highway_triggers_gcal.trigger import GcalTrigger

log = logging.getLogger(__name__)
SUBTYPE = "GOOGLE_CALENDAR"
NOTIFICATIONS = "/api/v1/gcal/notifications"
RESYNC_SKEW = timedelta(seconds=60)
"""After a ``410``, events updated since this long before the last sync began are routed
again (each deduplicated on its id and ``updated``): clocks may differ."""
ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Pending:
    """A ``starting`` fire to come."""

    fire_at: datetime
    start_at: datetime
    data: dict[str, Any]


@dataclass
class PollerState:
    polling: bool = False
    last_sync_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing: bool = False
    revoked: bool = False
    failures: int = 0
    token_refreshes: int = 0
    channel_expires_at: datetime | None = None


class Poller:
    def __init__(
        self,
        trigger: GcalTrigger,
        context: GatewayContext,
        settings: GcalSettings,
        store: Store,
        metrics: GcalMetrics,
    ) -> None:
        self.trigger = trigger
        self.state = PollerState()
        self._context = context
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._poke = asyncio.Event()
        self._pending: dict[str, Pending] = {}
        self._loaded = False

    @property
    def lease(self) -> str:
        return f"gcal:{self.trigger.id}"

    def poke(self) -> None:
        """Sync now (a push notification came)."""
        self._poke.set()

    def describe(self) -> dict[str, Any]:
        state, config = self.state, self.trigger.config
        return {
            "trigger_id": self.trigger.id,
            "workflow_id": self.trigger.workflow_id,
            "calendar_id": config.calendar_id,
            "polling": state.polling,
            "revoked": state.revoked,
            "last_sync_at": _iso(state.last_sync_at),
            "last_error": state.last_error,
            "failures": state.failures,
            "pending_starts": len(self._pending),
            "channel_expires_at": _iso(state.channel_expires_at),
        }

    def problem(self) -> str | None:
        state, calendar = self.state, self.trigger.config.calendar_id
        if state.revoked:
            return f"calendar {calendar} (trigger {self.trigger.id}): stopped: {state.last_error}"
        if state.polling and state.failing:
            return f"calendar {calendar} (trigger {self.trigger.id}): {state.last_error}"
        return None

    # the lease's work -------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled (the lease lost, the trigger stopped, shut-down)."""
        settings, state = self._settings, self.state
        state.polling, self._loaded = True, False
        try:
            async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
                calendar, tokens = self._calendar(client)
                backoff: float | None = None
                while True:
                    try:
                        await self._round(calendar)
                        state.failing, backoff = False, None
                        state.token_refreshes = tokens.refreshed
                        await self._wait()
                    except Revoked as error:
                        self._note(error)
                        self._metrics.failed(error)
                        state.revoked = True
                        log.error(
                            "calendar %s (trigger %s): credentials refused, trigger stopped"
                            " until deployed again: %s",
                            self.trigger.config.calendar_id, self.trigger.id, error,
                        )  # fmt: skip
                        await asyncio.Event().wait()
                    except Exception as error:
                        backoff = self._failed(error, backoff)
                        await asyncio.sleep(backoff)
        finally:
            state.polling = False

    async def retire(self) -> None:
        """The trigger is gone for good (undeployed, its poller stopped): its push channels
        closed at Google (at best: they expire by themselves) and its stored state deleted."""
        channels = await self._store.channels_of(self.trigger.id)
        if channels:
            async with httpx.AsyncClient(timeout=self._settings.timeout_seconds) as client:
                calendar, _ = self._calendar(client)
                for channel in channels:
                    try:
                        await calendar.stop(channel.channel_id, channel.resource_id)
                    except Exception as error:
                        log.info("closing channel %s failed: %s", channel.channel_id, error)
        await self._store.forget(self.trigger.id)

    def _calendar(self, client: httpx.AsyncClient) -> tuple[Calendar, Tokens]:
        """The trigger's calendar through ``client``, and its access tokens."""
        settings = self._settings
        tokens = Tokens(self._credentials(), client, settings.token_refresh_seconds)
        max_depth = self._context.settings.max_json_depth
        calendar_id = self.trigger.config.calendar_id
        return Calendar(settings.api_base, calendar_id, tokens, client, max_depth), tokens

    def _failed(self, error: Exception, backoff: float | None) -> float:
        state, settings = self.state, self._settings
        state.failing = True
        state.failures += 1
        self._note(error)
        self._metrics.failed(error)
        if backoff is None:
            backoff = settings.backoff_initial_seconds
        else:
            backoff = min(backoff * 2, settings.backoff_max_seconds)
        log.warning(
            "calendar %s (trigger %s): %s; trying again in %.1f s",
            self.trigger.config.calendar_id, self.trigger.id, state.last_error, backoff,
        )  # fmt: skip
        return backoff

    def _note(self, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"
        self.state.last_error = textwrap.shorten(text, ERROR_CHARS, placeholder=" …")
        self.state.last_error_at = utcnow()

    async def _round(self, calendar: Calendar) -> None:
        if self.trigger.config.watch and self._context.base_url:
            await self._keep_channel(calendar)
        await self._sync(calendar)
        await self._fire_due()
        self.state.last_sync_at = utcnow()

    async def _wait(self) -> None:
        """Until the next poll, a push, or the next ``starting`` fire (fired on the way)."""
        deadline = time.monotonic() + self.trigger.config.poll_interval_seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._pending:
                soonest = min(p.fire_at for p in self._pending.values())
                left = min(left, max((soonest - utcnow()).total_seconds(), 0.0))
            try:
                await asyncio.wait_for(self._poke.wait(), timeout=left)
            except TimeoutError:
                await self._fire_due()
                continue
            self._poke.clear()
            return

    # syncing ----------------------------------------------------------------------------

    async def _sync(self, calendar: Calendar) -> None:
        store, trigger_id = self._store, self.trigger.id
        began = utcnow()
        stored = await store.get(trigger_id)
        starting = "starting" in self.trigger.config.events
        if stored is None:  # the baseline: what exists now fires nothing
            items, token, zone = await self._list(calendar, None)
            self._schedule(items, zone)
            self._loaded = True
            await store.baseline(trigger_id, self.trigger.config.calendar_id, token, began)
            self._metrics.synced("baseline")
            return
        if starting and not self._loaded:  # after a restart or a takeover: what is to come
            items, _, zone = await self._list(calendar, None, ending_after=began)
            self._schedule(items, zone)
            self._loaded = True
        kind = "incremental"
        try:
            items, token, zone = await self._list(calendar, stored.sync_token)
        except SyncTokenGone:
            kind = "full"
            items, token, zone = await self._list(calendar, None)
            since = stored.synced_at - RESYNC_SKEW
            log.warning(
                "calendar %s (trigger %s): the sync token expired (410); full sync, routing"
                " the events updated since %s", self.trigger.config.calendar_id, trigger_id,
                since.isoformat(),
            )  # fmt: skip
            items = [i for i in items if (timestamp(i.get("updated")) or began) > since]
        self._schedule(items, zone)
        await self._route(items, stored, token, began)
        self._metrics.synced(kind)

    async def _list(
        self, calendar: Calendar, sync_token: str | None, ending_after: datetime | None = None
    ) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """Every page of a sync (or of the events ending after ``ending_after``): the
        items, the next sync token, the calendar's zone."""
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            page: Page = await calendar.page(
                sync_token=sync_token,
                page_token=page_token,
                page_size=self._settings.page_size,
                ending_after=ending_after,
            )
            items.extend(page.items)
            if page.next_page_token is None:
                return items, page.next_sync_token, page.time_zone
            page_token = page.next_page_token

    async def _route(
        self, items: list[dict[str, Any]], stored: SyncState, token: str | None, began: datetime
    ) -> None:
        """Route each change; the last one's claim moves the sync token with its dispatch."""
        trigger, router = self.trigger, self._context.router
        calendar_id = trigger.config.calendar_id
        for n, item in enumerate(items):
            change = change_of(item)
            last = n == len(items) - 1
            event = Event(
                SUBTYPE,
                (calendar_id,),
                trigger_data(calendar_id, change, item),
                idempotency_key=key(trigger.id, item["id"], str(item.get("updated"))),
            )
            claim = self._store.advance(trigger.id, stored, token, began) if last else None
            result = await router.route(event, among=[trigger], claim=claim)
            self._metrics.routed(change, result)
            if result.refused:
                raise RuntimeError("the sync token was moved by another replica")
        now = await self._store.get(trigger.id)
        if now is not None and now.synced_at == began and now.sync_token == token:
            return
        if not await self._store.advance_now(trigger.id, stored, token, began):
            raise RuntimeError("the sync token was moved by another replica")

    # starting ---------------------------------------------------------------------------

    def _schedule(self, items: list[dict[str, Any]], zone: str | None) -> None:
        """Add, move or drop the pending ``starting`` fires of these events."""
        if "starting" not in self.trigger.config.events:
            return
        before = timedelta(minutes=self.trigger.config.minutes_before)
        now = utcnow()
        for item in items:
            self._pending.pop(item["id"], None)
            start = None if item.get("status") == "cancelled" else start_of(item, zone)
            if start is None or start <= now:
                continue
            data = trigger_data(self.trigger.config.calendar_id, "starting", item)
            self._pending[item["id"]] = Pending(start - before, start, data)

    async def _fire_due(self) -> None:
        now = utcnow()
        due = [(i, p) for i, p in self._pending.items() if p.fire_at <= now]
        trigger = self.trigger
        for event_id, pending in sorted(due, key=lambda d: d[1].fire_at):
            start = pending.start_at.isoformat()
            event = Event(
                SUBTYPE,
                (trigger.config.calendar_id,),
                pending.data,
                idempotency_key=key(trigger.id, event_id, "starting", start),
            )
            claim = self._store.start_claim(trigger, event_id, pending.start_at)
            result = await self._context.router.route(event, among=[trigger], claim=claim)
            self._metrics.routed("starting", result)
            if self._pending.get(event_id) is pending:
                del self._pending[event_id]

    # push channels ----------------------------------------------------------------------

    async def _keep_channel(self, calendar: Calendar) -> None:
        """A push channel open, replaced before it expires."""
        settings, store = self._settings, self._store
        channels = await store.channels_of(self.trigger.id)
        renew_after = utcnow() + timedelta(seconds=settings.channel_renew_seconds)
        live = [c for c in channels if c.expires_at > renew_after]
        if live:
            self.state.channel_expires_at = max(c.expires_at for c in live)
            return
        channel_id, token = str(uuid.uuid4()), secrets.token_urlsafe(32)
        address = self._context.base_url.rstrip("/") + NOTIFICATIONS
        opened = await calendar.watch(channel_id, token, address, settings.channel_ttl_seconds)
        expires = _expiration(opened.get("expiration")) or utcnow() + timedelta(
            seconds=settings.channel_ttl_seconds
        )
        resource_id = str(opened.get("resourceId") or "")
        await store.add_channel(
            Channel(channel_id, self.trigger.id, token_hash(token), resource_id, expires)
        )
        self.state.channel_expires_at = expires
        for old in channels:
            try:
                await calendar.stop(old.channel_id, old.resource_id)
            except Exception as error:  # it expires by itself
                log.info("closing channel %s failed: %s", old.channel_id, error)
            await store.drop_channel(old.channel_id)

    def _credentials(self) -> Any:
        """The trigger's credentials with their secrets unsealed."""
        credentials, unseal = self.trigger.config.credentials, self._context.unseal
        if isinstance(credentials, OAuthCredentials):
            return credentials.model_copy(
                update={
                    "client_secret": unseal(credentials.client_secret),
                    "refresh_token": unseal(credentials.refresh_token),
                }
            )
        return credentials.model_copy(update={"private_key": unseal(credentials.private_key)})


def token_hash(token: str) -> str:
    """What is stored of a channel's token (compared in constant time)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _expiration(value: Any) -> datetime | None:
    """A channel's ``expiration`` (milliseconds since the epoch, as a string)."""
    try:
        millis = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(millis / 1000, tz=utcnow().tzinfo)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
