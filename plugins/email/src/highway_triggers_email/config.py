"""An EMAIL trigger's config: the mailbox, how to log in, the filters, what to do after."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from highway_triggers import TriggerConfig
from highway_triggers.plugin import Printable

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
ADDRESS_PATTERN = r"^[^@\s]+@[^@\s]+$"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")

Folder = Annotated[str, Field(min_length=1, max_length=255), Printable]
"""A mailbox folder name (``INBOX``, ``Archive/2024``)."""
AddressPattern = Annotated[str, Field(min_length=1, max_length=320, pattern=r"^\S+$"), Printable]
"""An address, or a glob over addresses (``*@example.org``), matched without regard to case."""
Attachments = Literal["none", "metadata", "inline"]
MAX_PATTERN_CHARS = 1000


def _short_pattern(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern has at most {MAX_PATTERN_CHARS} characters")
    return value


class EmailConfig(TriggerConfig):
    """An EMAIL trigger: which mailbox, how to reach it, which messages (see the README)."""

    model_config = ConfigDict(**TriggerConfig.model_config, serialize_by_alias=True)

    host: Annotated[str, Field(min_length=1, max_length=253)]
    """The IMAP server's host name or address."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """Default: 993 with ``ssl``, else 143."""
    ssl: bool = True
    """IMAP over TLS from the first byte (IMAPS)."""
    starttls: bool = False
    """A plain connection upgraded with STARTTLS (with ``ssl: false``)."""
    username: Annotated[str, Field(min_length=1, max_length=320), Printable]
    password_env: Annotated[str, Field(pattern=ENV_NAME_PATTERN)] | None = None
    """The name of an environment variable holding the password (on every replica)."""
    password: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        default=None, validate_default=True
    )
    """The password (stored sealed); or give ``password_env``."""
    folder: Folder = "INBOX"
    email_filter: Annotated[str, Field(max_length=320, pattern=ADDRESS_PATTERN)] | None = Field(
        default=None, validate_default=True
    )
    """The watched address: the trigger's index key (default: ``username`` when it is an
    address)."""
    from_: AddressPattern | None = Field(default=None, alias="from")
    to: AddressPattern | None = None
    """Matched against every ``To`` and ``Cc`` address."""
    subject_pattern: Annotated[re.Pattern[str], BeforeValidator(_short_pattern)] | None = None
    """A regular expression searched for in the decoded subject."""
    body_contains: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    """Text the plain-text body (else the HTML body) contains, without regard to case."""
    has_attachment: bool | None = None
    mark_as_read: bool = True
    move_to: Folder | None = None
    check_interval: Annotated[float, Field(ge=0.1, le=3600)] = 60.0
    """Seconds between checks: the polling interval without IDLE; with IDLE, how often
    the connection is proven alive and the mailbox searched besides what IDLE reports."""
    attachments: Attachments = "metadata"
    """``none``, ``metadata`` (filename, content type, size) or ``inline`` (and the
    content, base64, up to ``max_attachment_bytes`` each)."""
    max_attachment_bytes: Annotated[int, Field(ge=0, le=MAX_ATTACHMENT_BYTES)] = 1024 * 1024

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not _HOSTNAME.fullmatch(host):
                raise ValueError("must be a host name or an IP address") from None
        return host

    @field_validator("starttls")
    @classmethod
    def _not_with_ssl(cls, starttls: bool, info: ValidationInfo) -> bool:
        if starttls and info.data.get("ssl"):
            raise ValueError("give ssl: false with starttls (STARTTLS upgrades a plain connection)")
        return starttls

    @field_validator("password")
    @classmethod
    def _one_password(cls, password: str | None, info: ValidationInfo) -> str | None:
        from_env = info.data.get("password_env")
        if password is not None and from_env is not None:
            raise ValueError("give password or password_env, not both")
        if password is None and from_env is None and "password_env" in info.data:
            raise ValueError("required: give password, or password_env naming a variable")
        return password

    @field_validator("email_filter")
    @classmethod
    def _default_address(cls, address: str | None, info: ValidationInfo) -> str | None:
        username = info.data.get("username")
        if address is None and isinstance(username, str):
            if not re.fullmatch(ADDRESS_PATTERN, username) or len(username) > 320:
                raise ValueError("required: the watched address (username is not one)")
            return username
        return address

    @field_validator("move_to")
    @classmethod
    def _another_folder(cls, move_to: str | None, info: ValidationInfo) -> str | None:
        if move_to is not None and move_to == info.data.get("folder"):
            raise ValueError("must be another folder than folder")
        return move_to

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.ssl else 143)

    @property
    def index_address(self) -> str:
        """The index key: the watched address in lower case."""
        return (self.email_filter or "").lower()

    @property
    def mailbox_id(self) -> str:
        """Who watches what: the same server, user and folder is one mailbox, watched once
        however many triggers take its messages."""
        return mailbox_id(self.host, self.effective_port, self.username, self.folder)


def mailbox_id(host: str, port: int, username: str, folder: str) -> str:
    """A short stable id of a mailbox (server, user, folder)."""
    identity = "\x00".join((host.lower(), str(port), username, folder))
    return hashlib.sha256(identity.encode()).hexdigest()[:16]
