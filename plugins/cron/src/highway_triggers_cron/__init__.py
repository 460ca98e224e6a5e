"""highway-triggers-cron: ``CRON`` triggers (schedules) that fire exactly once per slot,
on time, across replicas; the ``/api/v1/schedules`` API and ``highway-triggers schedules``."""

from pathlib import Path
from typing import Any

import click
from starlette.routing import BaseRoute

from highway_triggers import BaseTrigger, hookimpl
from highway_triggers.plugin import GatewayContext
from highway_triggers_cron.api import routes
from highway_triggers_cron.commands import schedules
from highway_triggers_cron.service import scheduler_of
from highway_triggers_cron.trigger import CronTrigger

__all__ = ["CronTrigger"]


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [CronTrigger]


@hookimpl
def highway_routes(gateway: GatewayContext) -> list[BaseRoute]:
    return routes


@hookimpl
def highway_startup(gateway: GatewayContext) -> Any:
    return scheduler_of(gateway).start()


@hookimpl
def highway_shutdown(gateway: GatewayContext) -> Any:
    return scheduler_of(gateway).stop()


@hookimpl
def highway_health(gateway: GatewayContext) -> dict[str, Any]:
    return scheduler_of(gateway).health()


@hookimpl
def highway_migrations() -> Path:
    return Path(__file__).parent / "migrations"


@hookimpl
def highway_cli_commands() -> list[click.Command]:
    return [schedules]
