"""The plugin's settings, from ``HIGHWAY_GCAL_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import PluginSettings


class GcalSettings(PluginSettings):
    """Where the Calendar API is, the pollers' lease, timeouts, backoff and channels."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_GCAL_", extra="ignore")

    api_base: str = Field(default="https://www.googleapis.com/calendar/v3", pattern=r"^https?://")
    """The Calendar API v3 base URL."""
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    """One replica polls a calendar trigger; when it dies another takes over within this."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Each request to the Calendar API or the token endpoint."""
    backoff_initial_seconds: float = Field(default=1.0, gt=0, le=3600)
    """The first wait after a failed sync (429, 5xx, unreachable); doubled after each."""
    backoff_max_seconds: float = Field(default=300.0, gt=0, le=86400)
    page_size: int = Field(default=250, ge=1, le=2500)
    """``maxResults`` of each ``events.list`` page."""
    token_refresh_seconds: float = Field(default=60.0, ge=0, le=3600)
    """An access token is refreshed this long before it expires (at most half its life)."""
    channel_ttl_seconds: int = Field(default=7 * 86400, ge=60, le=30 * 86400)
    """The lifetime asked for a push channel (``params.ttl``)."""
    channel_renew_seconds: float = Field(default=3600.0, ge=1, le=86400)
    """A push channel is replaced this long before it expires."""

    @field_validator("backoff_max_seconds")
    @classmethod
    def _not_below_initial(cls, seconds: float, info: ValidationInfo) -> float:
        initial = info.data.get("backoff_initial_seconds")
        if initial is not None and seconds < initial:
            raise ValueError("must not be below HIGHWAY_GCAL_BACKOFF_INITIAL_SECONDS")
        return seconds
