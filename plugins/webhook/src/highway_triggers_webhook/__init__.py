"""highway-triggers-webhook: WEBHOOK triggers, per-run webhooks, every common signature scheme."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_webhook.api import WebhookApi
from highway_triggers_webhook.trigger import WebhookTrigger


def api_of(gateway: GatewayContext) -> WebhookApi:
    """The gateway's webhook API, made on first use (routes first, then start-up)."""
    return gateway.state(WebhookApi, lambda: WebhookApi(gateway))


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [WebhookTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return api_of(gateway).routes()


@hookimpl
def highway_startup(gateway: GatewayContext) -> None:
    api_of(gateway).held.start()


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
