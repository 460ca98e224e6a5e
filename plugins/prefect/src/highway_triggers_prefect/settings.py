"""The plugin's settings, from ``HIGHWAY_PREFECT_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import BaseUrl, PluginSettings


class PrefectSettings(PluginSettings):
    """Where Prefect's API is, how to authenticate, and the flow parameter to fill."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_PREFECT_", extra="ignore")

    api_url: BaseUrl = "http://127.0.0.1:4200/api"
    """Prefect's REST API, with its ``/api`` (like ``PREFECT_API_URL``)."""
    api_key: SecretStr | None = None
    """A Prefect Cloud API key, sent as a bearer token."""
    api_auth_string: SecretStr | None = None
    """``user:password`` of a self-hosted server's basic auth (``PREFECT_API_AUTH_STRING``)."""
    parameter: str = Field(default="trigger", min_length=1)
    """The flow parameter that receives ``{"trigger_type", "trigger_data", "tenant_id"}``."""
    max_concurrency: int = Field(default=1, ge=1, le=256)
    """Calls to Prefect in flight at once: Prefect's server on its default SQLite database
    answers 503 ("database is locked") to concurrent writes."""

    @model_validator(mode="after")
    def _one_credential(self) -> PrefectSettings:
        if self.api_key is not None and self.api_auth_string is not None:
            raise ValueError("set HIGHWAY_PREFECT_API_KEY or HIGHWAY_PREFECT_API_AUTH_STRING")
        return self
