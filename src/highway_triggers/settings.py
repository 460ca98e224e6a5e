"""Settings from ``HIGHWAY_*`` environment variables (pydantic-settings)."""

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from highway_triggers.core.ipfilter import Networks


class Settings(BaseSettings):
    """The gateway's configuration; every field is ``HIGHWAY_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_", extra="ignore")

    database_url: str = "sqlite:///highway-triggers.db"
    auto_migrate: bool | None = Field(
        default=None, description="Upgrade the schema on start-up; default: on SQLite only."
    )
    host: str = "127.0.0.1"
    port: int = 8003
    public_url: str = ""
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    secret_key_file: str = ".highway-secret-key"

    engine: str = "recorder"
    engine_url: str = "http://127.0.0.1:8000"
    engine_token: SecretStr | None = None
    engine_timeout_seconds: float = 10.0

    load_plugins: str | None = Field(
        default=None, description="Comma-separated entry-point names to load; unset = all."
    )
    trace_plugins: bool = False

    max_body_bytes: int = 1024 * 1024
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated CIDRs of proxies whose X-Forwarded-For names the client.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    dispatch_max_attempts: int = 8
    dispatch_backoff_base_seconds: float = 1.0
    dispatch_backoff_max_seconds: float = 300.0
    dispatch_concurrency: int = 32
    dispatch_batch_size: int = 256
    dispatch_lease_seconds: float = 60.0
    dispatch_poll_seconds: float = 1.0

    wait_timeout_poll_seconds: float = Field(
        default=1.0, description="How often expired waits are looked for (and their runs resumed)."
    )

    events_rate_limit_per_second: float = Field(
        default=100.0,
        gt=0,
        description="Events per second a tenant without its own limit may post.",
    )
    events_burst: int = Field(
        default=200, ge=1, description="Events a tenant without its own burst may post at once."
    )

    task_backoff_initial_seconds: float = Field(
        default=1.0, gt=0, description="First wait before a crashed plugin task is restarted."
    )
    task_backoff_max_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait between restarts of a crashing task."
    )

    writer_max_batch: int = 512
    early_event_lookback_seconds: float = 300.0
    """An event no wait took is kept this long; a wait registered meanwhile gets it."""
    reconcile_interval_seconds: float = 1.0
    delivery_retention_hours: float = 72.0

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        Networks.from_csv(value)  # a ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _lease_outlasts_engine_calls(self) -> "Settings":
        if self.dispatch_lease_seconds <= self.engine_timeout_seconds:
            raise ValueError(
                "HIGHWAY_DISPATCH_LEASE_SECONDS must exceed HIGHWAY_ENGINE_TIMEOUT_SECONDS, or a "
                "replica could claim a dispatch whose delivery is still under way"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
