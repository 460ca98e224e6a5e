"""The plugin's settings, from ``HIGHWAY_GITHUB_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import BaseUrl, PluginSettings


class GitHubSettings(PluginSettings):
    """The gateway-wide webhook secret, the GitHub App, the API and how long deliveries are kept."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_GITHUB_", extra="ignore")

    webhook_secret: SecretStr | None = None
    """The secret of webhooks whose triggers carry none of their own."""
    previous_webhook_secrets: list[SecretStr] = Field(default=[], max_length=16)
    """Secrets still accepted during a rotation (a JSON list)."""
    app_id: str | None = None
    """The GitHub App whose installations deploys without ``installation_id`` look up."""
    app_private_key: SecretStr | None = None
    """The App's private key (PEM; ``\\n`` escapes are read as line breaks)."""
    api_url: BaseUrl = "https://api.github.com"
    """GitHub's REST API (GitHub Enterprise: ``https://HOST/api/v3``)."""
    api_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    event_retention_hours: float = Field(default=72.0, gt=0)
    """Stored deliveries (``github_webhook_events``) older than this are deleted."""

    @property
    def webhook_secrets(self) -> list[str]:
        """Every gateway-wide secret a delivery may be signed with, current first."""
        current = [self.webhook_secret] if self.webhook_secret else []
        return [s.get_secret_value() for s in current + self.previous_webhook_secrets]

    @property
    def private_key(self) -> str | None:
        if self.app_private_key is None:
            return None
        return self.app_private_key.get_secret_value().replace("\\n", "\n")
