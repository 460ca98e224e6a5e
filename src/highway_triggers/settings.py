"""Settings from ``HIGHWAY_*`` environment variables (pydantic-settings)."""

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from highway_triggers.core.ipfilter import Networks
from highway_triggers.core.json_body import DEFAULT_MAX_DEPTH
from highway_triggers.datadir import (
    DATABASE_FILE,
    KEY_FILE,
    default_data_dir,
    in_data_dir,
    sqlite_url_in,
)


def is_http_url(value: str) -> bool:
    """An ``http://`` or ``https://`` URL naming a host, with a port from 0 to 65535 if any."""
    try:
        parts = urlsplit(value)  # raises for a bracketed host that is no IPv6 address
        parts.port  # raises for a port that is no such number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class Settings(BaseSettings):
    """The gateway's configuration; every field is ``HIGHWAY_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_", extra="ignore")

    data_dir: Path = Field(
        default=None,  # _data_dir: the user's data directory
        validate_default=True,
        description="Holds the SQLite database and the secret key file unless they are set"
        " explicitly; relative paths of both resolve against it.",
    )
    database_url: str = f"sqlite:///{DATABASE_FILE}"
    auto_migrate: bool | None = Field(
        default=None, description="Upgrade the schema on start-up; default: on SQLite only."
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite's fsync policy: FULL, a 2xx survives power loss; NORMAL, it survives"
        " a process crash, but the last commits may be lost on an OS crash or power loss.",
    )
    host: str = "127.0.0.1"
    port: int = 8003
    public_url: str = ""
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    secret_key_file: str = KEY_FILE

    engine: str = "recorder"
    engine_url: str | None = Field(
        default=None,
        description="The workflow engine's base URL (http or https); HIGHWAY_ENGINE=http needs it.",
    )
    engine_token: SecretStr | None = None
    engine_timeout_seconds: float = 10.0

    load_plugins: str | None = Field(
        default=None, description="Comma-separated entry-point names to load; unset = all."
    )
    trace_plugins: bool = False

    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Request line and headers larger than this answer 431 HEADERS_TOO_LARGE.",
    )
    max_header_count: int = Field(
        default=100, ge=8, le=10_000, description="More headers answer 431 HEADERS_TOO_LARGE."
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="A connection that has not sent a whole request line and headers this long"
        " after it opened (or its previous request) is answered 408 REQUEST_TIMEOUT and closed.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A body not received whole this long after its headers answers 408"
        " REQUEST_TIMEOUT, and the connection is closed.",
    )
    max_json_depth: int = Field(
        default=DEFAULT_MAX_DEPTH,
        ge=1,
        le=512,
        description="JSON bodies nesting arrays and objects deeper than this answer 400"
        " JSON_TOO_DEEP (at most 512: the parser's stack ends near 1,000 levels).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated CIDRs of proxies whose X-Forwarded-For names the client.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = Field(
        default=True,
        description="One INFO line per request: method, path (no query string), status,"
        " duration, client and request id.",
    )
    otel_endpoint: str | None = Field(
        default=None,
        description="Trace with OpenTelemetry, exporting spans over OTLP/HTTP to this"
        " collector URL (``/v1/traces`` is added unless given); needs highway-triggers[otel].",
    )

    dispatch_max_attempts: int = Field(
        default=30,
        ge=1,
        description="Attempts before a dispatch is dead; with the backoff defaults the retries"
        " span 1 h 43 min to 3 h 27 min (jitter), riding out an engine outage of over an hour.",
    )
    dispatch_backoff_base_seconds: float = Field(
        default=1.0, gt=0, description="Wait after the first failed attempt; doubles each time."
    )
    dispatch_backoff_max_seconds: float = Field(
        default=600.0, gt=0, description="Longest wait between attempts (before jitter of ×0.5–1)."
    )
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
    dispatch_retention_hours: float = Field(
        default=168.0,
        gt=0,
        description="Delivered and skipped dispatches (and their payloads) are deleted this"
        " long after their last attempt.",
    )
    dead_dispatch_retention_hours: float = Field(
        default=720.0,
        gt=0,
        description="Dead dispatches are kept this long after their last attempt (retry them"
        " before), then deleted.",
    )
    prune_interval_seconds: float = Field(
        default=600.0, gt=0, description="How often old rows are pruned."
    )

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _synchronous(cls, value: object) -> str:
        mode = str(value).strip().upper()
        if mode not in ("FULL", "NORMAL"):
            raise ValueError(f"HIGHWAY_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {value!r}")
        return mode

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        Networks.from_csv(value)  # a ValueError names the bad entry
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir(cls, value: object) -> Path:
        directory = default_data_dir() if value is None or value == "" else Path(str(value))
        return directory.expanduser().absolute()

    @model_validator(mode="after")
    def _files_in_data_dir(self) -> "Settings":
        self.database_url = sqlite_url_in(self.data_dir, self.database_url)
        self.secret_key_file = str(in_data_dir(self.data_dir, self.secret_key_file))
        return self

    @field_validator("engine_url", "otel_endpoint", mode="before")
    @classmethod
    def _http_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None or value == "":
            return None
        if not is_http_url(str(value)):
            name = f"HIGHWAY_{(info.field_name or '').upper()}"
            raise ValueError(f"{name} must be an http:// or https:// URL, not {value!r}")
        return value

    @model_validator(mode="after")
    def _http_engine_has_a_url(self) -> "Settings":
        if self.engine == "http" and self.engine_url is None:
            raise ValueError(
                "HIGHWAY_ENGINE=http needs HIGHWAY_ENGINE_URL, the workflow engine's base URL"
                " (http://… or https://…)"
            )
        return self

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
