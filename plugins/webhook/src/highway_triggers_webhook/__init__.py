"""highway-triggers-webhook: WEBHOOK triggers, per-run webhooks, every common signature scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers_webhook.api import WebhookApi
from highway_triggers_webhook.trigger import WebhookTrigger

_apis: WeakKeyDictionary[Any, WebhookApi] = WeakKeyDictionary()


def api_of(gateway: Any) -> WebhookApi:
    """The gateway's webhook API, made on first use (routes first, then start-up)."""
    if gateway not in _apis:
        _apis[gateway] = WebhookApi(gateway)
    return _apis[gateway]


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [WebhookTrigger]


@hookimpl
def highway_routes(gateway: Any) -> list[BaseRoute]:
    return api_of(gateway).routes()


@hookimpl
def highway_startup(gateway: Any) -> None:
    api_of(gateway).held.start()


@hookimpl
def highway_shutdown(gateway: Any) -> Any:
    return api_of(gateway).held.stop()


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
