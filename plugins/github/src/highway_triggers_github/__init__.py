"""highway-triggers-github: GITHUB triggers on repository events, with branch, path,
action and author filters, and pull requests and issues resuming waiting runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_github.api import GitHubApi
from highway_triggers_github.trigger import GitHubTrigger


def api_of(gateway: GatewayContext) -> GitHubApi:
    """The gateway's GitHub API, made on first use."""
    return gateway.state(GitHubApi, lambda: GitHubApi(gateway))


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [GitHubTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return api_of(gateway).routes()


@hookimpl
def highway_startup(gateway: GatewayContext) -> None:
    api = api_of(gateway)
    retention = timedelta(hours=api.settings.event_retention_hours)
    gateway.prune_every_interval(
        "github-prune", api.store.prune, retention=retention, batch=api.store.prune_batch
    )


@hookimpl
def highway_health(gateway: GatewayContext) -> dict[str, Any]:
    settings = api_of(gateway).settings
    return {
        "webhook_secret": bool(settings.webhook_secrets),
        "app": settings.app_id is not None and settings.private_key is not None,
        "api_url": settings.api_url,
    }


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
