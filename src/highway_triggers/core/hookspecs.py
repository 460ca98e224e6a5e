"""The hooks a plugin may implement (pluggy project ``highway_triggers``).

Hooks are sync and called with keyword arguments; what ``highway_startup`` and
``highway_shutdown`` return is awaited when it is awaitable. ``gateway`` is the
:class:`~highway_triggers.plugin.GatewayContext` (its ``router.route(event)`` is what a
route calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from highway_triggers.core.context import GatewayContext

hookspec = pluggy.HookspecMarker("highway_triggers")


@hookspec
def highway_trigger_types() -> list[type]:  # type: ignore[empty-body]
    """The BaseTrigger subclasses this plugin provides."""


@hookspec
def highway_routes(gateway: GatewayContext) -> list[Any]:  # type: ignore[empty-body]
    """Starlette routes to mount; paths start with ``/api/v1/``."""


@hookspec
def highway_startup(gateway: GatewayContext) -> Any:
    """Called once at start-up; a returned awaitable is awaited."""


@hookspec
def highway_shutdown(gateway: GatewayContext) -> Any:
    """Called once at shut-down; a returned awaitable is awaited."""


@hookspec
def highway_engines() -> dict[str, type]:  # type: ignore[empty-body]
    """Engine adapters by name; ``HIGHWAY_ENGINE`` picks one."""


@hookspec
def highway_migrations() -> Any:
    """The folder of this plugin's Alembic revisions (its own branch label)."""


@hookspec
def highway_health(gateway: GatewayContext) -> dict[str, Any]:  # type: ignore[empty-body]
    """This plugin's state for ``/health/detailed``, shown under its name in ``plugins_health``."""


@hookspec
def highway_cli_commands() -> list[click.Command]:  # type: ignore[empty-body]
    """click commands or groups to add to ``highway-triggers`` (named as no core command is)."""
