"""highway-triggers-gcal: ``GOOGLE_CALENDAR`` triggers on a calendar's events (created,
updated, cancelled, about to start), synced incrementally on one replica at a time, with
push notifications when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_gcal.api import routes
from highway_triggers_gcal.service import service_of
from highway_triggers_gcal.trigger import GcalTrigger

__all__ = ["GcalTrigger"]


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [GcalTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return routes


@hookimpl
def highway_health(gateway: GatewayContext) -> dict[str, Any]:
    return service_of(gateway).health()


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"
