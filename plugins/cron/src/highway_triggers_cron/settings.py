"""The plugin's settings, from ``HIGHWAY_SCHEDULER_*`` environment variables."""

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import PluginSettings
from highway_triggers_cron.timetable import zone_named

MAX_CATCHUP_WINDOW_SECONDS = 7 * 24 * 3600


class CronSettings(PluginSettings):
    """``HIGHWAY_SCHEDULER_TIMEZONE`` and ``HIGHWAY_SCHEDULER_CLAIM_RETENTION_HOURS``."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_SCHEDULER_", extra="ignore")

    timezone: str = "UTC"
    """The zone of schedules that name none (an IANA name)."""
    claim_retention_hours: float = Field(default=8 * 24, ge=MAX_CATCHUP_WINDOW_SECONDS / 3600)
    """Slot claims older than this are pruned (each schedule's latest is always kept)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_named(name)
        return name
