"""The approval tests' gateway: a real one whose ``http`` engine adapter talks to a
FakeEngine on loopback and whose approval emails go to a real SMTP server on loopback
(aiosmtpd), with the approval plugin installed; and the steps the tests repeat: ask for
an approval, read the emails, open a link as a browser (or a link scanner) would, submit
the confirmation page's form.

Tests share a gateway, so each uses its own runs, approval keys and approvers.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from highway_triggers.testing import (
    EngineCall,
    FakeEngine,
    RunningGateway,
    free_port,
    gateway_settings,
    running_gateway,
    wait_until,
)

TENANT = "acme"
APPROVALS = "/api/v1/approvals"
SENDER = "Approvals <approvals@gateway.example>"
PUBLIC_URL = "https://gateway.test"
"""``HIGHWAY_PUBLIC_URL``: links start with it; the tests reach the gateway on loopback."""
_names = itertools.count()
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
_LINK = re.compile(r"^(Approve|Reject): (\S+)\s*$", re.MULTILINE)


@dataclass
class Mailbox:
    """A real SMTP server on loopback that keeps every message it accepts; stopped and
    started again on its port to play an SMTP server that is down."""

    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @contextmanager
    def down(self) -> Iterator[None]:
        """No SMTP server listens inside the block."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def to(self, address: str, count: int = 1) -> list[EmailMessage]:
        """The messages sent to ``address``, once there are ``count`` of them."""

        def arrived() -> list[EmailMessage]:
            with self._lock:
                found = [m for m in self.messages if m["To"] == address]
            return found if len(found) >= count else []

        found: list[EmailMessage] = wait_until(arrived)
        return found


def links_of(message: EmailMessage) -> dict[str, str]:
    """The approve and reject links of an approval email's plain-text part."""
    part = message.get_body(("plain",))
    assert part is not None
    text = part.get_content()
    return {verb.lower(): url for verb, url in _LINK.findall(text)}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def form_of(page: str) -> dict[str, str]:
    """The hidden fields of a confirmation page's form."""
    return {name: unescape(value) for name, value in _HIDDEN.findall(page)}


@dataclass
class Hub:
    """A running gateway, its engine and its SMTP server, with the approval tests' steps."""

    gateway: RunningGateway
    engine: FakeEngine
    engine_url: str
    mailbox: Mailbox

    @property
    def admin(self) -> httpx.Client:
        return self.gateway.admin

    @cached_property
    def browser(self) -> httpx.Client:
        """A client without credentials, as an approver's browser (or a link scanner)."""
        return self.gateway.client(None)

    @staticmethod
    def name(prefix: str) -> str:
        """A name no other test uses."""
        return f"{prefix}-{next(_names)}"

    def approvers(self, count: int) -> list[str]:
        return [f"{self.name('approver')}@example.org" for _ in range(count)]

    def ask(self, expect: int = 201, **fields: Any) -> dict[str, Any]:
        """``POST /api/v1/approvals`` for a new run (unless given); its answer's body, once
        its status is ``expect``."""
        body = {
            "tenant_id": TENANT,
            "workflow_run_id": self.name("run"),
            "approval_key": self.name("key"),
            "title": "Deploy release 4.2 to production",
            "description": "Ships **4.2**: see [the notes](https://example.org/notes?a=1&b=2).",
            "approvers": self.approvers(1),
            **fields,
        }
        answer = self.admin.post(APPROVALS, json=body)
        assert answer.status_code == expect, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def status(self, approval_id: str) -> dict[str, Any]:
        answer = self.admin.get(f"{APPROVALS}/{approval_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def open(self, url: str, **headers: str) -> httpx.Response:
        """GET a link as a browser (or a link scanner) does."""
        return self.browser.get(local(url), headers=_named(headers))

    def submit(self, url: str, comment: str = "", **headers: str) -> httpx.Response:
        """Open a link and submit its confirmation page's form, as an approver does."""
        page = self.open(url)
        assert page.status_code == 200, page.text
        return self.post_form(url, {**form_of(page.text), "comment": comment}, **headers)

    def post_form(self, url: str, form: dict[str, str], **headers: str) -> httpx.Response:
        """POST ``form`` where the confirmation page of ``url`` posts its form."""
        return self.browser.post(urlsplit(url).path, data=form, headers=_named(headers))

    def resumes(self, run_id: str) -> list[EngineCall]:
        """The engine's resume calls of ``run_id``."""
        return [c for c in self.engine.resumes() if c.path == f"/v2/executions/{run_id}/resume"]

    def resumed(self, run_id: str) -> dict[str, Any]:
        """What ``run_id`` was resumed with, once it was."""
        (call,) = wait_until(lambda: self.resumes(run_id))
        data: dict[str, Any] = call.body["resume_data"]
        return data


def _named(headers: dict[str, str]) -> dict[str, str]:
    """Headers given as keyword arguments (``user_agent``) by their names (``user-agent``)."""
    return {name.replace("_", "-"): value for name, value in headers.items()}


def local(url: str) -> str:
    """A link's path and query, for the gateway on loopback (its public URL is not)."""
    assert url.startswith(f"{PUBLIC_URL}/"), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@contextmanager
def serving(
    database: str, tmp_path: Path, engine: FakeEngine, engine_url: str, *, smtp: bool = True
) -> Iterator[Hub]:
    """A gateway on ``database`` that delivers to ``engine`` and mails through a new
    :class:`Mailbox` (with ``smtp`` false, ``HIGHWAY_SMTP_URL`` is not set)."""
    mailbox = Mailbox()
    mailbox.start()
    config = gateway_settings(
        database, tmp_path, engine="http", engine_url=engine_url, public_url=PUBLIC_URL
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            variables = {
                "HIGHWAY_SMTP_URL": mailbox.url,
                "HIGHWAY_APPROVAL_MAIL_FROM": SENDER,
                "HIGHWAY_APPROVAL_POLL_SECONDS": "0.05",
                "HIGHWAY_APPROVAL_RETRY_INITIAL_SECONDS": "0.2",
                "HIGHWAY_APPROVAL_RETRY_MAX_SECONDS": "0.4",
                "HIGHWAY_APPROVAL_SMTP_TIMEOUT_SECONDS": "5",
            }
            for name, value in variables.items():
                patch.setenv(name, value)
            if not smtp:
                patch.delenv("HIGHWAY_SMTP_URL")
            with running_gateway(config) as gateway:
                yield Hub(gateway, engine, engine_url, mailbox)
    finally:
        mailbox.stop()
