"""The plugin's settings: ``HIGHWAY_SMTP_URL`` and ``HIGHWAY_APPROVAL_*``."""

from __future__ import annotations

from email.utils import parseaddr

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import PluginSettings
from highway_triggers_approval.smtp import SmtpServer

MAX_EXPIRY_SECONDS = 365 * 24 * 3600


class ApprovalSettings(PluginSettings):
    """Where approval emails go out, who sends them, and how often the plugin looks for
    work (expiries, emails to retry)."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_APPROVAL_", extra="ignore")

    smtp_url: SecretStr | None = Field(default=None, validation_alias="HIGHWAY_SMTP_URL")
    """``smtp://user:password@host:port``, ``?starttls=true``, or ``smtps://`` (TLS)."""
    mail_from: str = "highway-triggers@localhost"
    """The ``From`` of approval emails (``Approvals <approvals@example.org>``)."""
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    default_expiry_seconds: float = Field(default=7 * 24 * 3600, gt=0, le=MAX_EXPIRY_SECONDS)
    """How long an approval without ``expires_in_seconds`` stays open."""
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often expiries, emails due for a retry and unfinished work are looked for."""
    retry_initial_seconds: float = Field(default=10.0, gt=0)
    """The wait before an email that failed is sent again; doubled per failure."""
    retry_max_seconds: float = Field(default=600.0, gt=0)
    retention_days: float = Field(default=90.0, gt=0)
    """Decided or expired approvals whose run was resumed this long ago are deleted, with
    their approvers and decisions."""

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            SmtpServer.parse(url.get_secret_value())  # ValueError names the problem
        return url

    @field_validator("mail_from")
    @classmethod
    def _address(cls, value: str) -> str:
        if any(c in value for c in "\r\n") or "@" not in parseaddr(value)[1]:
            raise ValueError("must be an email address (Approvals <approvals@example.org>)")
        return value

    @property
    def smtp(self) -> SmtpServer | None:
        """The SMTP server, if one is set."""
        return None if self.smtp_url is None else SmtpServer.parse(self.smtp_url.get_secret_value())

    @property
    def mail_domain(self) -> str:
        """The domain of ``mail_from``, for the emails' Message-IDs."""
        return parseaddr(self.mail_from)[1].rpartition("@")[2] or "localhost"
