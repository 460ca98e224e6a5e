"""The email tests' gateway: a real one whose ``http`` engine adapter talks to a
FakeEngine on loopback, with the email plugin installed, watching mailboxes of a real
Dovecot; and the steps the tests repeat: deploy an EMAIL trigger for a new account,
wait until its mailbox is watched, append messages over IMAP.

Tests share a gateway and a Dovecot, so each uses its own accounts and workflow ids.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from dovecot import Account, Dovecot
from imapclient import IMAPClient

from highway_triggers.testing import (
    environment,
    EngineCall,
    FakeEngine,
    RunningGateway,
    gateway_settings,
    running_gateway,
    wait_until,
)

FIXTURES = Path(__file__).parent / "fixtures"
SETTINGS = {
    "HIGHWAY_EMAIL_LEASE_SECONDS": "3",
    "HIGHWAY_EMAIL_BACKOFF_INITIAL_SECONDS": "0.1",
    "HIGHWAY_EMAIL_BACKOFF_MAX_SECONDS": "1",
    "HIGHWAY_EMAIL_AUTH_RETRY_SECONDS": "1",  # Dovecot under load may refuse a login twice
    "HIGHWAY_EMAIL_TIMEOUT_SECONDS": "5",
}
"""Short leases, backoffs and timeouts, so that the tests see them at work."""
_names = itertools.count()


def fixture(name: str) -> bytes:
    """A saved message's bytes (``plain``, ``multipart-alternative``, ``reply``)."""
    return (FIXTURES / f"{name}.eml").read_bytes()


@dataclass
class Hub:
    """A running gateway, its engine and the Dovecot it watches."""

    gateway: RunningGateway
    engine: FakeEngine
    dovecot: Dovecot
    clients: dict[str, IMAPClient] = field(default_factory=dict)

    @property
    def admin(self) -> httpx.Client:
        return self.gateway.admin

    def config(self, account: Account, **config: Any) -> dict[str, Any]:
        """An EMAIL trigger's config for ``account`` on this Dovecot (1 s checks)."""
        return {
            "host": "127.0.0.1",
            "port": self.dovecot.port,
            "ssl": False,
            "username": account.username,
            "password": account.password,
            "check_interval": 1,
            **config,
        }

    def deploy(
        self, account: Account, workflow_id: str | None = None, expect: int = 200, **config: Any
    ) -> str:
        """Deploy an EMAIL trigger on ``account``'s mailbox; its workflow id."""
        workflow_id = workflow_id or f"mail-wf-{next(_names)}"
        trigger = {"type": "EMAIL", "config": self.config(account, **config)}
        self.gateway.deploy(workflow_id, trigger, expect=expect)
        return workflow_id

    def mailbox(self, account: Account, folder: str = "INBOX") -> dict[str, Any] | None:
        """What ``GET /api/v1/email/mailboxes`` says of the account's folder."""
        answer = self.admin.get("/api/v1/email/mailboxes")
        assert answer.status_code == 200, answer.text
        for found in answer.json()["mailboxes"]:
            if (found["username"], found["folder"]) == (account.username, folder):
                return found  # type: ignore[no-any-return]
        return None

    def watched(self, account: Account, folder: str = "INBOX") -> dict[str, Any]:
        """The mailbox once it is watched and its first check is done."""

        def ready() -> dict[str, Any] | None:
            found = self.mailbox(account, folder)
            ok = found and found["connected"] and found["last_check_at"] and found["cursor"]
            return found if ok else None

        found: dict[str, Any] = wait_until(ready, timeout=10)
        return found

    def imap(self, account: Account) -> IMAPClient:
        """The test's own IMAP connection for ``account`` (kept)."""
        if account.username not in self.clients:
            self.clients[account.username] = self.dovecot.client(account)
        return self.clients[account.username]

    def append(self, account: Account, message: bytes, folder: str = "INBOX") -> None:
        """APPEND ``message`` to the account's folder, as a mail server delivers it."""
        self.imap(account).append(folder, message)

    def starts(self, workflow_id: str, count: int = 1) -> list[EngineCall]:
        """The engine's start calls for ``workflow_id``, once there are ``count``."""
        return self.engine.started(workflow_id, count)

    def delivery_log(self) -> list[dict[str, Any]]:
        """The delivery log's EMAIL rows, newest first."""
        answer = self.admin.get("/api/v1/deliveries", params={"source": "EMAIL", "limit": 500})
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["deliveries"]
        return rows

    def close(self) -> None:
        for client in self.clients.values():
            try:
                client.logout()
            except Exception:
                pass


@contextmanager
def email_env(**overrides: str) -> Iterator[None]:
    """The plugin's test settings (:data:`SETTINGS`) in the environment, ``overrides``
    by variable name."""
    with environment({**SETTINGS, **overrides}):
        yield


@contextmanager
def serving(
    database: str,
    tmp_path: Path,
    engine: FakeEngine,
    engine_url: str,
    dovecot: Dovecot,
    **env: str,
) -> Iterator[Hub]:
    """A gateway on ``database`` that delivers to ``engine``; ``env`` overrides the
    plugin's test settings."""
    settings = gateway_settings(database, tmp_path, engine="http", engine_url=engine_url)
    with email_env(**env), running_gateway(settings) as gateway:
        hub = Hub(gateway, engine, dovecot)
        try:
            yield hub
        finally:
            hub.close()
