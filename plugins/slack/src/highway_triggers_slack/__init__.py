"""highway-triggers-slack: SLACK triggers on Events API events, interactions and slash
commands, with channel, user, bot, thread and text filters; thread replies and button
clicks resuming waiting runs; prompts with buttons posted for waiting runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_slack.api import SlackApi
from highway_triggers_slack.prompt_store import PRUNE_BATCH as PROMPTS_BATCH
from highway_triggers_slack.trigger import SlackTrigger


def api_of(gateway: GatewayContext) -> SlackApi:
    """The gateway's Slack API, made on first use."""
    return gateway.state(SlackApi, lambda: SlackApi(gateway))


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [SlackTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return api_of(gateway).routes()


@hookimpl
def highway_startup(gateway: GatewayContext) -> None:
    api = api_of(gateway)
    retention = timedelta(hours=api.settings.event_retention_hours)
    gateway.prune_every_interval(
        "slack-prune", api.store.prune, retention=retention, batch=api.store.prune_batch
    )
    gateway.prune_every_interval(
        "slack-prune-prompts", api.prompts.prune, retention=retention, batch=PROMPTS_BATCH
    )


@hookimpl
def highway_health(gateway: GatewayContext) -> dict[str, Any]:
    settings = api_of(gateway).settings
    return {
        "signing_secret": bool(settings.signing_secrets),
        "bot_token": settings.bot_token is not None,
        "api_url": settings.api_url,
    }


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
