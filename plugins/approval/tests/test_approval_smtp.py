"""``HIGHWAY_SMTP_URL``: read without ever showing its password; mail sent over a real
SMTP server on loopback that asks for a login."""

from __future__ import annotations

import threading
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from highway_triggers.plugin import PluginSettingsError
from highway_triggers.testing import free_port
from highway_triggers_approval.settings import ApprovalSettings
from highway_triggers_approval.smtp import SmtpServer

SECRET = "s3cr3t/p@ss"


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://mail.example", SmtpServer("mail.example", 25)),
        ("smtp://mail.example:2525/", SmtpServer("mail.example", 2525)),
        ("smtps://mail.example", SmtpServer("mail.example", 465, tls=True)),
        (
            "smtp://ops%40example.org:s3cr3t%2Fp%40ss@mail.example:587?starttls=true",
            SmtpServer(
                "mail.example", 587, starttls=True, username="ops@example.org", password=SECRET
            ),
        ),
        ("smtp://mail.example?starttls=false", SmtpServer("mail.example", 25)),
    ],
)
def test_smtp_urls(url: str, server: SmtpServer) -> None:
    assert SmtpServer.parse(url) == server
    assert SECRET not in repr(SmtpServer.parse(url))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example", "the scheme must be smtp or smtps"),
        ("smtp://", "no host"),
        ("smtp://mail.example:99999", "not a valid URL"),
        ("smtp://mail.example/inbox", "no path"),
        ("smtp://mail.example?tls=1", "unknown option 'tls'"),
        ("smtp://mail.example?starttls=maybe", "starttls must be true or false"),
        ("smtps://mail.example?starttls=true", "starttls is for smtp://"),
    ],
)
def test_invalid_smtp_urls_name_the_variable_not_the_password(
    url: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=problem):
        SmtpServer.parse(url)
    secret_url = url.replace("://", f"://ops:{SECRET}@", 1)
    monkeypatch.setenv("HIGHWAY_SMTP_URL", secret_url)
    with pytest.raises(PluginSettingsError) as refused:
        ApprovalSettings.load()
    assert str(refused.value).startswith("HIGHWAY_SMTP_URL: ")
    assert SECRET not in str(refused.value) and "s3cr3t" not in str(refused.value)


def test_mail_from_must_be_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIGHWAY_APPROVAL_MAIL_FROM", "Approvals\r\nBcc: everyone@example.org")
    with pytest.raises(PluginSettingsError, match="HIGHWAY_APPROVAL_MAIL_FROM"):
        ApprovalSettings.load()
    monkeypatch.setenv("HIGHWAY_APPROVAL_MAIL_FROM", "Approvals <approvals@corp.example>")
    assert ApprovalSettings.load().mail_domain == "corp.example"


class Server:
    """A real SMTP server that wants a login (over plain SMTP, on loopback only)."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.logins: list[str] = []
        self.lock = threading.Lock()

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        with self.lock:
            self.logins.append(data.login.decode())
        return AuthResult(success=data.password.decode() == SECRET)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.received.append(envelope)
        return "250 OK"


def test_mail_is_sent_with_a_login() -> None:
    server = Server()
    port = free_port()
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=port,
        authenticator=server.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "hi"
        message.set_content("hello")
        url = f"smtp://ops:{SECRET.replace('/', '%2F').replace('@', '%40')}@127.0.0.1:{port}"
        SmtpServer.parse(url).send(message, timeout=5)
        assert server.logins == ["ops"]
        (envelope,) = server.received
        assert envelope.rcpt_tos == ["b@example.org"]
    finally:
        controller.stop()
