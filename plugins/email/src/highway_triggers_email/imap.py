"""One IMAP connection to one folder, with imapclient: blocking calls, each bounded by the
socket timeout, made from one thread (the watcher's own); :meth:`Session.abort` may be
called from any thread to end a call under way."""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from imapclient import DELETED, SEEN, IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

log = logging.getLogger(__name__)
LOGOUT_SECONDS = 2.0
MAX_SEARCHES = 5
"""Searches in a row while new mail keeps arriving during them (then the next check)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a mailbox is and how to log in."""

    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str
    folder: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Opened:
    """The selected folder: its UIDVALIDITY and UIDNEXT, and what the server supports."""

    uidvalidity: int
    uidnext: int
    idle: bool


@dataclass(frozen=True, slots=True)
class Fetched:
    """A message as fetched: its bytes (only the header when larger than the limit)."""

    uid: int
    raw: bytes
    size: int
    internal_date: datetime | None
    truncated: bool


def error_kind(error: BaseException) -> str:
    """``auth``, ``connection``, ``protocol`` or ``error`` (the metric's label)."""
    if isinstance(error, LoginError):
        return "auth"
    if isinstance(error, (OSError, imaplib.IMAP4.abort)):  # refused, reset, timed out, EOF
        return "connection"
    if isinstance(error, (IMAPClientError, imaplib.IMAP4.error)):
        return "protocol"
    return "error"


class Session:
    """A logged-in connection with ``endpoint.folder`` selected (after :meth:`open`)."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._client: IMAPClient | None = None
        self._aborted = False
        self._move = False

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise ConnectionError("the IMAP session is not open")
        return self._client

    def open(self) -> Opened:
        """Connect (TLS, or STARTTLS), log in and select the folder read-write."""
        end = self._endpoint
        context = ssl.create_default_context() if end.ssl or end.starttls else None
        client = IMAPClient(
            end.host,
            port=end.port,
            ssl=end.ssl,
            ssl_context=context,
            timeout=SocketTimeout(connect=self._timeout, read=self._timeout),
        )
        client.normalise_times = False  # aware INTERNALDATE values
        self._client = client
        if self._aborted:
            raise ConnectionError("the IMAP session was stopped")
        if end.starttls:
            client.starttls(context)
        client.login(end.username, end.password)
        selected = client.select_folder(end.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        uidnext = selected.get(b"UIDNEXT")
        if uidnext is None:  # optional in IMAP4rev1
            found = client.search(["ALL"])
            uidnext = max(found, default=0) + 1
        self._move = client.has_capability("MOVE")
        return Opened(
            uidvalidity=uidvalidity, uidnext=int(uidnext), idle=client.has_capability("IDLE")
        )

    def new_uids(self, after: int) -> list[int]:
        """The UIDs above ``after``, ascending (``UID n:*`` also names the last message
        when none is above ``n``: filtered out).

        Mail that arrives while the search runs is announced (``EXISTS``) with its answer
        but may be missing from it, and IDLE would not announce it again: then the search
        is made again.
        """
        client = self.client
        announced = client._imap.untagged_responses  # imaplib's: what came besides answers
        found: list[int] = []
        for _ in range(MAX_SEARCHES):
            announced.pop("EXISTS", None)
            found = client.search(["UID", f"{after + 1}:*"])
            if "EXISTS" not in announced:
                break
        return sorted(uid for uid in found if uid > after)

    def uids_since(self, day: date) -> list[int]:
        """The UIDs of messages that arrived on ``day`` or later."""
        return sorted(self.client.search(["SINCE", day]))

    def poll(self) -> None:
        """NOOP: the server reports what changed; proves the connection alive."""
        self.client.noop()

    def wait(self, timeout: float) -> bool:
        """IDLE for up to ``timeout`` seconds; True when the server reported something."""
        client = self.client
        client.idle()
        try:
            responses = client.idle_check(timeout=timeout)
        finally:
            client.idle_done()  # raises when the connection went away meanwhile
        return bool(responses)

    def fetch(self, uids: Sequence[int], max_bytes: int) -> list[Fetched]:
        """The messages of ``uids`` still there, in UID order; one larger than
        ``max_bytes`` with its header only. ``BODY.PEEK``: none is marked read."""
        client = self.client
        facts = client.fetch(list(uids), ["RFC822.SIZE", "INTERNALDATE"])
        sizes = {uid: int(facts[uid].get(b"RFC822.SIZE", 0)) for uid in uids if uid in facts}
        small = [uid for uid, size in sizes.items() if size <= max_bytes]
        large = [uid for uid, size in sizes.items() if size > max_bytes]
        bodies: dict[int, Any] = {}
        if small:
            bodies.update(
                {
                    u: (d.get(b"BODY[]"), False)
                    for u, d in client.fetch(small, ["BODY.PEEK[]"]).items()
                }
            )
        if large:
            heads = client.fetch(large, ["BODY.PEEK[HEADER]"])
            bodies.update({u: (d.get(b"BODY[HEADER]"), True) for u, d in heads.items()})
        found = []
        for uid in sorted(bodies):
            raw, truncated = bodies[uid]
            if not isinstance(raw, bytes):
                continue  # expunged meanwhile
            internal = facts[uid].get(b"INTERNALDATE")
            found.append(
                Fetched(
                    uid=uid,
                    raw=raw,
                    size=sizes[uid],
                    internal_date=internal if isinstance(internal, datetime) else None,
                    truncated=truncated,
                )
            )
        return found

    def settle(self, seen: Sequence[int], moves: dict[str, list[int]]) -> None:
        """Mark ``seen`` read, then move each folder's UIDs there (MOVE; else COPY, flag
        deleted and expunge them). A folder that does not exist is created (TRYCREATE)."""
        client = self.client
        if seen:
            client.add_flags(list(seen), [SEEN])
        for folder, uids in moves.items():
            try:
                self._move_to(folder, uids)
            except IMAPClientError as error:
                if "TRYCREATE" not in str(error):
                    raise
                client.create_folder(folder)
                self._move_to(folder, uids)

    def _move_to(self, folder: str, uids: list[int]) -> None:
        client = self.client
        if self._move:
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [DELETED])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    def abort(self) -> None:
        """End the call under way, from any thread (the socket is shut down)."""
        self._aborted = True
        client = self._client
        if client is None:
            return
        try:
            client.socket().shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        """Log out (briefly), then drop the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if not self._aborted:
                client.socket().settimeout(LOGOUT_SECONDS)
                client.logout()
        except Exception:
            pass
        try:
            client.shutdown()
        except Exception:
            pass
