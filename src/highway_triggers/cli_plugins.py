"""The commands plugins add to ``highway-triggers`` (the ``highway_cli_commands`` hook).

Plugins are loaded once a run, and only when a command is not the core's (or the
commands are listed, as ``--help`` does); a plugin that fails is a warning on stderr.
"""

from __future__ import annotations

from collections.abc import Mapping

import click
from pydantic import ValidationError

from highway_triggers.core.errors import PluginConflictError
from highway_triggers.settings import Settings

_LOADED = "highway_triggers.plugin_commands"


class PluginCommands(click.Group):
    """A group whose commands are its own and then those the installed plugins add."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugin_commands(ctx, self.commands)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        own = super().get_command(ctx, cmd_name)
        return own or _plugin_commands(ctx, self.commands).get(cmd_name)


def _plugin_commands(
    ctx: click.Context, taken: Mapping[str, click.Command]
) -> dict[str, click.Command]:
    meta = ctx.find_root().meta
    if _LOADED not in meta:
        meta[_LOADED] = _load(taken)
    commands: dict[str, click.Command] = meta[_LOADED]
    return commands


def _load(taken: Mapping[str, click.Command]) -> dict[str, click.Command]:
    from highway_triggers.core.plugins import load_plugins

    try:
        settings = Settings()
        plugins = load_plugins(settings.load_plugins, settings.trace_plugins)
    except (ValidationError, PluginConflictError) as exc:
        _warn(f"no plugin commands: {exc}")
        return {}
    found: dict[str, click.Command] = {}
    for plugin, answer in plugins.answers("highway_cli_commands"):
        if isinstance(answer, Exception):
            _warn(
                f"plugin {plugin}: its commands are not available: {type(answer).__name__}: {answer}"
            )
            continue
        for command in answer or []:
            name = getattr(command, "name", None)
            if not isinstance(command, click.Command) or name is None:
                _warn(f"plugin {plugin}: {command!r} is not a named click command")
            elif name in taken or name in found:
                _warn(f"plugin {plugin}: command {name!r} exists already; not added")
            else:
                found[name] = command
    return found


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
