"""The watcher of one mailbox: while this replica holds the mailbox's lease it keeps an
IMAP session open, routes every message after the cursor once, then waits for news
(IDLE, or a poll); a failed session is logged, counted, shown and opened again after a
capped backoff."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import textwrap
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from highway_triggers import Event, RouteResult
from highway_triggers.plugin import GatewayContext, HTTPError, utcnow
from highway_triggers_email.config import EmailConfig
from highway_triggers_email.cursors import Cursor, CursorStore
from highway_triggers_email.imap import Endpoint, Fetched, Opened, Session, error_kind
from highway_triggers_email.message import correlation_keys, parse_message
from highway_triggers_email.metrics import EmailMetrics
from highway_triggers_email.settings import EmailSettings

if TYPE_CHECKING:
    from highway_triggers_email.trigger import EmailTrigger

log = logging.getLogger(__name__)
SUBTYPE = "EMAIL"
STALE_INTERVALS = 3
"""A watched mailbox not checked for this many check intervals degrades health."""
RECHECK_SECONDS = 1.0
"""After a check that routed mail, the next IDLE lasts at most this long: Dovecot may not
announce a message stored while the watcher marks or moves others and starts IDLE again
(seen: announced 5 s late); a second search finds it."""
ERROR_CHARS = 300
QUICK_LOGINS = 2
"""Logins refused in a row before the next waits ``auth_retry_seconds``: a server under
load may refuse one now and then, a wrong password is refused every time."""
MAX_KEY_CHARS = 200
T = TypeVar("T")


class ConfigProblem(Exception):
    """The mailbox cannot be watched as configured here (a password variable unset)."""


@dataclass
class MailboxState:
    """What ``/health/detailed`` and the mailboxes API show of a mailbox on this replica."""

    watching: bool = False
    watching_since: datetime | None = None
    connected: bool = False
    idle: bool | None = None
    last_check_at: datetime | None = None
    last_message_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing: bool = False
    """The latest session failed (and the next one is not open yet)."""
    failures: int = 0


class Watcher:
    """One mailbox (server, user, folder), whatever number of triggers take its messages."""

    def __init__(
        self,
        mailbox_id: str,
        context: GatewayContext,
        settings: EmailSettings,
        store: CursorStore,
        metrics: EmailMetrics,
    ) -> None:
        self.mailbox_id = mailbox_id
        self.triggers: dict[str, EmailTrigger] = {}
        self.state = MailboxState()
        self._context = context
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._session: Session | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._connection: tuple[Any, ...] | None = None
        """The connection settings of the session open now."""
        self._reopen = False
        self._refused_logins = 0
        """Logins refused in a row (a session that connected starts the count again)."""

    # triggers ---------------------------------------------------------------------------

    @property
    def lease(self) -> str:
        return f"email:{self.mailbox_id}"

    @property
    def config(self) -> EmailConfig:
        """The connection settings in use: those of the trigger deployed last."""
        newest = max(self.triggers.values(), key=lambda t: (t.revision, t.id))
        return newest.config

    @property
    def label(self) -> str:
        config = self.config
        return f"{config.username}@{config.host}:{config.effective_port}/{config.folder}"

    @property
    def interval(self) -> float:
        return min(t.config.check_interval for t in self.triggers.values())

    def add(self, trigger: EmailTrigger) -> None:
        self.triggers[trigger.id] = trigger
        self._reopen_if_changed()

    def remove(self, trigger_id: str) -> None:
        self.triggers.pop(trigger_id, None)
        if self.triggers:
            self._reopen_if_changed()

    def _reopen_if_changed(self) -> None:
        """A session opened with other settings (a new password) is ended, and opened
        again at once."""
        if self._session is not None and self._connection != _connection(self.config):
            self._reopen = True
            self._session.abort()

    # health -----------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        config, state = self.config, self.state
        return {
            "mailbox_id": self.mailbox_id,
            "mailbox": self.label,
            "host": config.host,
            "port": config.effective_port,
            "username": config.username,
            "folder": config.folder,
            "addresses": sorted({t.config.index_address for t in self.triggers.values()}),
            "trigger_ids": sorted(self.triggers),
            "check_interval": self.interval,
            "watching": state.watching,
            "connected": state.connected,
            "idle": state.idle,
            "last_check_at": _iso(state.last_check_at),
            "last_message_at": _iso(state.last_message_at),
            "last_error": state.last_error,
            "last_error_at": _iso(state.last_error_at),
            "failures": state.failures,
        }

    def problem(self) -> str | None:
        """Why this mailbox is not being watched as it should be, if it is not."""
        state = self.state
        if not state.watching:
            return None  # another replica holds the lease (or none yet: its own health says)
        if state.failing:
            return f"mailbox {self.label}: {state.last_error}"
        since = state.last_check_at or state.watching_since
        limit = STALE_INTERVALS * self.interval
        if since is not None and (age := (utcnow() - since).total_seconds()) > limit:
            return (
                f"mailbox {self.label}: not checked for {age:.0f} s"
                f" ({STALE_INTERVALS} intervals of {self.interval:g} s)"
            )
        return None

    # the lease's work -------------------------------------------------------------------

    async def run(self) -> None:
        """Watch until cancelled (the lease lost, the last trigger stopped, shut-down)."""
        state = self.state
        state.watching, state.watching_since = True, utcnow()
        backoff: float | None = None
        try:
            while True:
                try:
                    await self._watch()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if self._reopen:
                        self._reopen = False
                        continue
                    backoff = self._failed(error, backoff)
                    await asyncio.sleep(backoff)
                    self._metrics.reconnects.inc()
                finally:
                    state.connected = False
                    self._close()
        finally:
            state.watching = False

    def _failed(self, error: Exception, backoff: float | None) -> float:
        """Record a failed session; the wait before the next (doubled after a session that
        never connected, the initial one after one that did; ``auth_retry_seconds`` once
        :data:`QUICK_LOGINS` logins in a row were refused)."""
        state, settings = self.state, self._settings
        kind = error_kind(error)
        self._metrics.failed(kind)
        state.failures += 1
        state.failing = True
        self._note_error(error)
        self._refused_logins = self._refused_logins + 1 if kind == "auth" else 0
        if self._refused_logins >= QUICK_LOGINS:
            backoff = settings.auth_retry_seconds
        elif backoff is None or state.connected:
            backoff = settings.backoff_initial_seconds
        else:
            backoff = min(backoff * 2, settings.backoff_max_seconds)
        log.warning(
            "mailbox %s: %s; reconnecting in %.1f s",
            self.label,
            state.last_error,
            backoff,
            exc_info=error if kind == "error" else None,
        )
        return backoff

    def _note_error(self, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"
        self.state.last_error = textwrap.shorten(text, ERROR_CHARS, placeholder=" …")
        self.state.last_error_at = utcnow()

    async def _watch(self) -> None:
        """One session: open, catch up from the cursor, then wait for news and check."""
        state, settings = self.state, self._settings
        config = self.config
        self._connection = _connection(config)
        self._session = session = Session(self._endpoint_of(config), settings.timeout_seconds)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"email-{self.mailbox_id}")
        opened = await self._call(session.open)
        state.connected, state.failing, state.idle = True, False, opened.idle
        self._refused_logins = 0
        log.info("mailbox %s: connected (%s)", self.label, "IDLE" if opened.idle else "polling")
        cursor = await self._epoch(session, opened)
        renew_at = time.monotonic() + settings.idle_renew_seconds
        while True:
            before = cursor
            cursor = await self._check(session, cursor)
            if opened.idle:
                wait = min(self.interval, max(renew_at - time.monotonic(), 0.0))
                if cursor != before:  # mail came: look again soon (see RECHECK_SECONDS)
                    wait = min(wait, RECHECK_SECONDS)
                await self._call(session.wait, wait)
                if time.monotonic() >= renew_at:
                    self._metrics.idle_renewals.inc()
                    renew_at = time.monotonic() + settings.idle_renew_seconds
            else:
                await asyncio.sleep(self.interval)
                await self._call(session.poll)

    async def _epoch(self, session: Session, opened: Opened) -> Cursor:
        """The cursor to go on from: a new mailbox starts with the mail that arrives from
        now on; a new UIDVALIDITY re-scans from the day before the last message routed,
        each message deduplicated on its Message-ID (with none routed yet, the mailbox is
        seen anew: what is there is left alone, as at first sight)."""
        store, mailbox_id = self._store, self.mailbox_id
        cursor = await store.get(mailbox_id)
        if cursor is None:
            cursor = await store.start(
                mailbox_id, self.label, opened.uidvalidity, opened.uidnext - 1
            )
        if cursor.uidvalidity == opened.uidvalidity:
            return cursor
        changed = f"UIDVALIDITY changed from {cursor.uidvalidity} to {opened.uidvalidity}"
        since = cursor.last_internal_date
        if since is None:
            start = opened.uidnext - 1
            log.warning("mailbox %s: %s; none was routed yet: seen anew", self.label, changed)
        else:
            day = since.date() - timedelta(days=1)
            uids = await self._call(session.uids_since, day)
            start = uids[0] - 1 if uids else opened.uidnext - 1
            log.warning(
                "mailbox %s: %s; %d message(s) since %s are looked at again, each once by its"
                " Message-ID", self.label, changed, len(uids), day,
            )  # fmt: skip
        cursor = await store.reset(mailbox_id, cursor, opened.uidvalidity, start)
        if cursor.uidvalidity != opened.uidvalidity:
            raise RuntimeError("the cursor was moved to another UIDVALIDITY meanwhile")
        return cursor

    async def _check(self, session: Session, cursor: Cursor) -> Cursor:
        """Route every message after ``cursor``, a batch at a time; the cursor after them."""
        while uids := await self._call(session.new_uids, cursor.last_uid):
            for start in range(0, len(uids), self._settings.batch_size):
                batch = uids[start : start + self._settings.batch_size]
                fetched = await self._call(self._fetch, session, batch, self._parsing(cursor))
                if not fetched:  # expunged meanwhile (or not served): looked at next check
                    self._checked()
                    return cursor
                moved = await self._route(session, cursor, fetched)
                self._checked()
                if moved is None:
                    break  # the chain broke: search again from the stored cursor
                cursor = moved
            else:
                continue
            stored = await self._store.get(self.mailbox_id)
            if stored is None or stored == cursor:
                raise RuntimeError("a message could not be routed; trying again")
            cursor = stored
        self._checked()
        return cursor

    def _checked(self) -> None:
        self.state.last_check_at = utcnow()
        self._metrics.checks.inc()

    def _parsing(self, cursor: Cursor) -> Parsing:
        """How this batch is parsed, as the mailbox's triggers are now: the most detailed
        attachments any of them asks for."""
        configs = [t.config for t in self.triggers.values()]
        modes = {c.attachments for c in configs}
        return Parsing(
            folder=self.config.folder,
            uidvalidity=cursor.uidvalidity,
            index_keys=tuple(sorted({c.index_address for c in configs})),
            attachments=next(m for m in ("inline", "metadata", "none") if m in modes),
            max_attachment_bytes=max(c.max_attachment_bytes for c in configs),
        )

    def _fetch(
        self, session: Session, uids: Sequence[int], parsing: Parsing
    ) -> list[tuple[Fetched, Event]]:
        """Fetch and parse (in the watcher's thread): each message with its event."""
        fetched = session.fetch(uids, self._settings.max_message_bytes)
        return [(m, self._event(m, parsing)) for m in fetched]

    def _event(self, fetched: Fetched, parsing: Parsing) -> Event:
        parsed = parse_message(
            fetched.raw, attachments=parsing.attachments, max_bytes=parsing.max_attachment_bytes
        )
        data = {
            **parsed.data,
            "mailbox": parsing.folder,
            "uid": fetched.uid,
            "uidvalidity": parsing.uidvalidity,
            "internal_date": _iso(fetched.internal_date),
            "size": fetched.size,
            "truncated": fetched.truncated,
        }
        return Event(
            subtype=SUBTYPE,
            index_keys=parsing.index_keys,
            payload=data,
            idempotency_key=self._key(data, fetched.raw),
            correlation_keys=correlation_keys(data),
            meta={"attachment_count": parsed.attachment_count},
        )

    def _key(self, data: dict[str, Any], raw: bytes) -> str:
        """The dedup key: the mailbox and the Message-ID (a hash of the message without
        one), so that the same message is dispatched once across UIDVALIDITY epochs."""
        message_id = data["message_id"]
        if message_id and len(message_id) <= MAX_KEY_CHARS and message_id.isprintable():
            return f"{self.mailbox_id}:{message_id.strip('<>')}"
        source = message_id.encode() if message_id else raw
        return f"{self.mailbox_id}:sha256:{hashlib.sha256(source).hexdigest()}"

    async def _route(
        self, session: Session, cursor: Cursor, batch: list[tuple[Fetched, Event]]
    ) -> Cursor | None:
        """Route a batch together, each message claiming the cursor from the one before;
        mark or move what was delivered. The cursor after the batch, or ``None`` when the
        chain broke (a message failed, or another watcher moved the cursor)."""
        uidvalidity, router = cursor.uidvalidity, self._context.router
        triggers = list(self.triggers.values())
        routes = []
        after = cursor.last_uid
        for fetched, event in batch:
            claim = self._store.advance(
                self.mailbox_id, uidvalidity, after, fetched.uid, fetched.internal_date
            )
            routes.append(router.route(event, among=triggers, claim=claim))
            after = fetched.uid
        results = await asyncio.gather(*routes, return_exceptions=True)
        seen: list[int] = []
        moves: dict[str, list[int]] = {}
        broken = False
        for (fetched, event), result in zip(batch, results, strict=True):
            if isinstance(result, HTTPError):  # a wait's schema refused it: logged, claimed
                self._metrics.rejected()
            elif isinstance(result, BaseException):
                log.warning(
                    "mailbox %s: routing UID %d failed: %s", self.label, fetched.uid, result
                )
                broken = True
                break
            elif result.refused:
                broken = True
                break
            elif result.duplicate and not await self._store.skip(
                self.mailbox_id, uidvalidity, cursor.last_uid, fetched.uid, fetched.internal_date
            ):
                broken = True
                break
            else:
                self._metrics.routed(result)
                self._settle_plan(event, result, triggers, seen, moves)
            cursor = Cursor(uidvalidity, fetched.uid, fetched.internal_date)
            self.state.last_message_at = utcnow()
        if seen or moves:
            await self._settle(session, seen, moves)
        return None if broken else cursor

    async def _settle(self, session: Session, seen: list[int], moves: dict[str, list[int]]) -> None:
        """Mark and move; a refusal (a folder name the server does not take) is logged and
        shown, and the messages stay as they are: they are dispatched already."""
        try:
            await self._call(session.settle, seen, moves)
        except Exception as error:
            if error_kind(error) != "protocol":
                raise
            self._note_error(error)
            log.warning("mailbox %s: marking or moving failed: %s", self.label, error)

    def _settle_plan(
        self,
        event: Event,
        result: RouteResult,
        triggers: list[EmailTrigger],
        seen: list[int],
        moves: dict[str, list[int]],
    ) -> None:
        """What to do with a delivered message: as the triggers that take it say (all the
        mailbox's, for a reply that only resumed a run)."""
        if not (result.delivered_to or result.duplicate):
            return  # filtered: left as it is
        takers = [t for t in triggers if type(t).matches(t.config, event)] or triggers
        takers.sort(key=lambda t: t.id)
        uid = event.payload["uid"]
        if any(t.config.mark_as_read for t in takers):
            seen.append(uid)
        folder = next((t.config.move_to for t in takers if t.config.move_to), None)
        if folder is not None:
            moves.setdefault(folder, []).append(uid)

    # plumbing ---------------------------------------------------------------------------

    def _endpoint_of(self, config: EmailConfig) -> Endpoint:
        if config.password_env is not None:
            password = os.environ.get(config.password_env)
            if not password:
                raise ConfigProblem(f"{config.password_env} (password_env) is not set")
        else:
            password = self._context.unseal(config.password or "")
        return Endpoint(
            host=config.host,
            port=config.effective_port,
            ssl=config.ssl,
            starttls=config.starttls,
            username=config.username,
            folder=config.folder,
            password=password,
        )

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in this watcher's thread (one IMAP connection, one thread)."""
        assert self._thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _close(self) -> None:
        """End the session without waiting: its thread logs out and goes."""
        session, self._session = self._session, None
        thread, self._thread = self._thread, None
        if session is not None and thread is not None:
            session.abort()  # a call under way (an IDLE) ends now
            thread.submit(session.close)
        if thread is not None:
            thread.shutdown(wait=False)


@dataclass(frozen=True, slots=True)
class Parsing:
    """What a batch's trigger data is made with."""

    folder: str
    uidvalidity: int
    index_keys: tuple[str, ...]
    attachments: str
    max_attachment_bytes: int


def _connection(config: EmailConfig) -> tuple[Any, ...]:
    """The settings a session is opened with."""
    return (
        config.host, config.effective_port, config.ssl, config.starttls, config.username,
        config.folder, config.password, config.password_env,
    )  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
