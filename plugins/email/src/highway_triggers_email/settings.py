"""The plugin's settings, from ``HIGHWAY_EMAIL_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import PluginSettings

IDLE_LIMIT_SECONDS = 29 * 60
"""RFC 2177: a server may drop a client that stays in IDLE for 30 minutes."""


class EmailSettings(PluginSettings):
    """How mailboxes are watched: the lease, IDLE, timeouts, reconnecting, batches."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_EMAIL_", extra="ignore")

    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    """One replica watches a mailbox; when it dies another takes over within this."""
    idle_renew_seconds: float = Field(default=25 * 60, gt=0, le=IDLE_LIMIT_SECONDS)
    """IDLE is ended and issued again at least this often (before the 29-minute limit)."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Connecting and each IMAP command (a server that stops answering is dropped)."""
    backoff_initial_seconds: float = Field(default=1.0, gt=0, le=3600)
    """The first wait before reconnecting after a failure; doubled after each failure."""
    backoff_max_seconds: float = Field(default=300.0, gt=0, le=86400)
    auth_retry_seconds: float = Field(default=600.0, gt=0, le=86400)
    """The wait after a second login refused in a row: a wrong password is tried a few
    times an hour, not every few minutes, lest the server's lockout policy lock the
    account out (and with it everyone who shares it)."""
    batch_size: int = Field(default=100, ge=1, le=1000)
    """Messages fetched and routed together."""
    max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    """A larger message is routed with its headers only (``truncated: true``)."""

    @field_validator("backoff_max_seconds")
    @classmethod
    def _not_below_initial(cls, seconds: float, info: ValidationInfo) -> float:
        initial = info.data.get("backoff_initial_seconds")
        if initial is not None and seconds < initial:
            raise ValueError("must not be below HIGHWAY_EMAIL_BACKOFF_INITIAL_SECONDS")
        return seconds
