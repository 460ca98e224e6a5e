"""The plugin's settings, from ``HIGHWAY_SLACK_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from highway_triggers.plugin import BaseUrl, PluginSettings


class SlackSettings(PluginSettings):
    """The app's signing secrets, the bot token and Web API, how long requests are kept."""

    model_config = SettingsConfigDict(env_prefix="HIGHWAY_SLACK_", extra="ignore")

    signing_secret: SecretStr | None = None
    """The Slack app's signing secret: verifies requests for triggers without one of their own."""
    previous_signing_secrets: list[SecretStr] = Field(default=[], max_length=16)
    """Signing secrets still accepted during a rotation (a JSON list)."""
    bot_token: SecretStr | None = None
    """The bot token (``xoxb-…``): channel names are resolved with it, prompts posted."""
    api_url: BaseUrl = "https://slack.com/api"
    """Slack's Web API."""
    api_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    event_retention_hours: float = Field(default=72.0, gt=0)
    """Stored requests (``slack_events``), and prompts answered or expired this long ago,
    are deleted."""

    @property
    def signing_secrets(self) -> list[str]:
        """Every gateway-wide signing secret a request may be signed with, current first."""
        current = [self.signing_secret] if self.signing_secret else []
        return [s.get_secret_value() for s in current + self.previous_signing_secrets]
