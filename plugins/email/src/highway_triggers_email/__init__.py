"""highway-triggers-email: ``EMAIL`` triggers on IMAP mailboxes, watched with IDLE (or
polled) on one replica at a time, each message dispatched once, replies resuming the runs
waiting on the message they answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_email.api import routes
from highway_triggers_email.service import service_of
from highway_triggers_email.trigger import EmailTrigger

__all__ = ["EmailTrigger"]


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [EmailTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return routes


@hookimpl
def highway_health(gateway: GatewayContext) -> dict[str, Any]:
    return service_of(gateway).health()


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
