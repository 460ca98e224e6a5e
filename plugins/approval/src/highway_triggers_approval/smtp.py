"""Sending mail: the SMTP server ``HIGHWAY_SMTP_URL`` names, over the standard library's
``smtplib`` (blocking: call :meth:`SmtpServer.send` through ``Tasks.run_blocking``)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

PORTS = {"smtp": 25, "smtps": 465}
BOOLEAN = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail is sent: ``smtp://[user:password@]host[:port][?starttls=true]``, or
    ``smtps://…`` for TLS from the first byte (port 465 by default)."""

    host: str
    port: int
    tls: bool = False
    """``smtps``: TLS from the start."""
    starttls: bool = False
    """Upgrade a plain connection with ``STARTTLS`` before logging in."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """The server of ``url``; ``ValueError`` saying what is wrong, never the URL (it may
        hold a password)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise ValueError("not a valid URL (smtp://user:password@host:port)") from None
        if parts.scheme not in PORTS:
            raise ValueError("the scheme must be smtp or smtps")
        if not parts.hostname:
            raise ValueError("no host (smtp://host:port)")
        if parts.path not in ("", "/"):
            raise ValueError("an SMTP URL has no path")
        options = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(options) - {"starttls"}
        if unknown:
            raise ValueError(f"unknown option {sorted(unknown)[0]!r} (only starttls)")
        starttls = False
        if "starttls" in options:
            given = options["starttls"][-1].lower()
            if given not in BOOLEAN:
                raise ValueError("starttls must be true or false")
            starttls = BOOLEAN[given]
        if starttls and parts.scheme == "smtps":
            raise ValueError("starttls is for smtp://; smtps:// is TLS from the start")
        return cls(
            host=parts.hostname,
            port=port or PORTS[parts.scheme],
            tls=parts.scheme == "smtps",
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def send(self, message: EmailMessage, timeout: float) -> None:
        """Deliver ``message`` (blocking); any ``OSError`` or ``smtplib.SMTPException`` is
        the caller's to retry."""
        context = ssl.create_default_context()
        client = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context)
            if self.tls
            else smtplib.SMTP(self.host, self.port, timeout=timeout)
        )
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.username is not None:
                client.login(self.username, self.password or "")
            client.send_message(message)
