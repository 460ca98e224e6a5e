"""``SLACK`` triggers: start a workflow on Slack events, interactions and slash commands that
pass its filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from highway_triggers import BaseTrigger, Event
from highway_triggers.plugin import ConfigError, GatewayContext, IngressGuard
from highway_triggers_slack.config import SlackConfig
from highway_triggers_slack.matcher import mismatch
from highway_triggers_slack.settings import SlackSettings
from highway_triggers_slack.signing import SigningKeys, guards_of
from highway_triggers_slack.web_api import SlackWebApi

SUBTYPE = "SLACK"


def keys_of(context: GatewayContext) -> SigningKeys:
    """The gateway's :class:`SigningKeys`."""
    return context.state(SigningKeys, SigningKeys)


class SlackTrigger(BaseTrigger):
    """Indexed by its workspace (key-less without one); its own signing secrets, if any,
    verify requests."""

    subtype = SUBTYPE
    Config = SlackConfig

    __slots__ = ("guards",)

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        # built here, so that a config whose secrets cannot be unsealed is never indexed
        self.guards: dict[str, IngressGuard] = guards_of(
            cast(SlackConfig, self.config).own_secrets, self.context
        )
        """A guard per own signing secret, by fingerprint; none: the gateway-wide secret."""

    @classmethod
    def index_key(cls, config: SlackConfig) -> str | None:
        return config.workspace_id

    @classmethod
    def matches(cls, config: SlackConfig, event: Event) -> bool:
        return mismatch(config, event.payload) is None

    @classmethod
    def mismatch(cls, config: SlackConfig, event: Event) -> str | None:
        return mismatch(config, event.payload)

    async def start(self) -> None:
        keys_of(self.context).add(self.guards)

    async def stop(self) -> None:
        keys_of(self.context).remove(self.guards)

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        """The signing secrets sealed (a sealed one stays as it is)."""
        prepared = dict(config)
        if isinstance(secret := config.get("signing_secret"), str) and secret:
            prepared["signing_secret"] = seal(secret)
        if isinstance(secrets := config.get("signing_secrets"), list):
            prepared["signing_secrets"] = [
                seal(s) if isinstance(s, str) and s else s for s in secrets
            ]
        return prepared

    @classmethod
    async def resolve_config(
        cls, config: dict[str, Any], *, context: GatewayContext
    ) -> dict[str, Any]:
        """A signing secret must verify the trigger's requests; channel names (``#general``)
        become ids through ``conversations.list`` (422 on a name the bot cannot see, 503
        when Slack cannot be asked or refuses the token)."""
        settings = context.plugin_settings(SlackSettings)
        if not (
            config.get("signing_secret")
            or config.get("signing_secrets")
            or settings.signing_secrets
        ):
            message = "give the Slack app's signing secret, or set HIGHWAY_SLACK_SIGNING_SECRET"
            raise ConfigError([{"field": "signing_secret", "message": message}])
        channels = config.get("channels")
        if not isinstance(channels, list):
            return config  # validation names what is wrong with it
        names = {
            i: name[1:].lower()
            for i, name in enumerate(channels)
            if isinstance(name, str) and name.startswith("#")
        }
        if not names:
            return config
        if settings.bot_token is None:
            raise ConfigError(
                [
                    {
                        "field": f"channels.{i}",
                        "message": f"'#{name}' is a channel name: give its id, or set "
                        "HIGHWAY_SLACK_BOT_TOKEN to resolve names at deploy",
                    }
                    for i, name in names.items()
                ]
            )
        api = SlackWebApi(
            settings.bot_token.get_secret_value(), settings.api_url, settings.api_timeout_seconds
        )
        found = await api.channel_ids(set(names.values()))
        missing = [(i, name) for i, name in names.items() if name not in found]
        if missing:
            raise ConfigError(
                [
                    {
                        "field": f"channels.{i}",
                        "message": f"no channel '#{name}' the bot can see (conversations.list)",
                    }
                    for i, name in missing
                ]
            )
        resolved = [found[names[i]] if i in names else c for i, c in enumerate(channels)]
        return {**config, "channels": resolved}
