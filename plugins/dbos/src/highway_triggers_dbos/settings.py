"""The plugin's settings, from ``HIGHWAY_DBOS_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import PluginSettings


class DbosSettings(PluginSettings):
    """The DBOS system database the gateway enqueues workflows and sends messages in."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_DBOS_", extra="ignore")

    database_url: SecretStr | None = None
    """The DBOS system database (``postgresql://…``), as the DBOS application's
    ``system_database_url``; it may hold a password, so it is never shown."""
    system_schema: str = Field(default="dbos", min_length=1)
    """The schema of DBOS's tables, as the application's ``dbos_system_schema``."""
    application_name: str | None = None
    """The application the gateway acts for, when several share the system database."""
    pool_size: int = Field(default=5, ge=1, le=100)
