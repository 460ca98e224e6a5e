"""Loading plugins: built-ins and the ``highway_triggers`` entry-point group."""

from __future__ import annotations

import importlib
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from highway_triggers.core import hookspecs
from highway_triggers.core.errors import PluginConflictError
from highway_triggers.core.trigger import BaseTrigger

PROJECT = "highway_triggers"
ENTRY_POINT_GROUP = "highway_triggers"
CORE_DISTRIBUTION = "highway-triggers"
BUILTIN_PLUGINS = (
    "highway_triggers.builtin.manual",
    "highway_triggers.builtin.event",
    "highway_triggers.engines.recorder",
    "highway_triggers.engines.http",
)

hookimpl = pluggy.HookimplMarker(PROJECT)
log = logging.getLogger(__name__)


@dataclass
class PluginInfo:
    """A plugin as users see it in ``highway-triggers plugins`` and ``/health/detailed``."""

    name: str
    distribution: str
    version: str
    trigger_types: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        """The distribution, and the plugin's name when it differs."""
        return (
            self.distribution
            if self.name == self.distribution
            else f"{self.distribution} ({self.name})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "trigger_types": self.trigger_types,
            "engines": self.engines,
            "error": self.error,
        }


@dataclass
class Plugins:
    """The loaded plugin manager and what its plugins provide."""

    pm: pluggy.PluginManager
    infos: list[PluginInfo]
    trigger_types: dict[str, type[BaseTrigger]]
    engines: dict[str, type]

    @property
    def loaded(self) -> list[PluginInfo]:
        return [p for p in self.infos if p.error is None]

    @property
    def failed(self) -> list[PluginInfo]:
        return [p for p in self.infos if p.error is not None]

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook plugin by plugin: ``(plugin name, result)`` for each that answered.

        A plugin whose hook raises is marked failed and logged; the others go on.
        """
        answers = []
        for plugin_name, answer in self.answers(hook_name, **kwargs):
            if isinstance(answer, Exception):
                self.fail(plugin_name, hook_name, answer)
            else:
                answers.append((plugin_name, answer))
        return answers

    def answers(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin name, result or the exception it raised)`` for every implementation.

        Each call goes through pluggy's hook calling (a caller for that plugin alone), so
        ``HIGHWAY_TRACE_PLUGINS`` and any hook monitoring see it; one plugin's exception
        does not keep the next from being called.
        """
        return _answers(self.pm, hook_name, kwargs)

    def fail(self, plugin_name: str, where: str, exc: BaseException) -> None:
        """Record that a plugin failed (shown by the CLI and /health/detailed)."""
        for info in self.loaded:
            if info.name == plugin_name:
                info.error = f"{where}: {_describe(exc)}"
        log.error("plugin %s failed in %s: %s", plugin_name, where, _describe(exc))

    def migration_locations(self) -> list[tuple[str, Path]]:
        """Each plugin's Alembic folder, by plugin name."""
        return [(name, Path(path)) for name, path in self.call_each("highway_migrations") if path]


def load_plugins(only: str | None = None, trace: bool = False) -> Plugins:
    """Register the built-ins, then every installed entry point (``only`` limits them).

    A plugin that fails to import or whose hooks raise is skipped and reported; so is a
    second distribution whose entry point has a name already loaded. Two plugins
    claiming one trigger subtype or engine name is a start-up error.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if trace:  # before any hook is called: registration and collection are traced too
        pm.trace.root.setwriter(log.debug)
        pm.enable_tracing()
    infos: dict[str, PluginInfo] = {}
    shadowed: list[PluginInfo] = []
    version = _core_version()
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        infos[module_name] = PluginInfo(module_name, CORE_DISTRIBUTION, version)

    wanted = {n.strip() for n in only.split(",") if n.strip()} if only is not None else None
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and ep.name not in wanted:
            continue
        dist = ep.dist.name if ep.dist else ep.name
        version_of = ep.dist.version if ep.dist else "?"
        if ep.name in infos:
            error = (
                f"entry point {ep.name!r} is also the name of {infos[ep.name].label}; "
                "this distribution was not loaded (entry-point names must be unique)"
            )
            shadowed.append(PluginInfo(ep.name, dist, version_of, error=error))
            log.error("plugin %s (%s) not loaded: %s", ep.name, dist, error)
            continue
        info = infos[ep.name] = PluginInfo(ep.name, dist, version_of)
        try:
            module: ModuleType = ep.load()
            pm.register(module, name=ep.name)
            pm.check_pending()  # a misspelled hook name fails this plugin only
        except Exception as exc:  # a broken plugin must not take the gateway down
            if pm.has_plugin(ep.name):
                pm.unregister(name=ep.name)
            info.error = _describe(exc)
            log.error("plugin %s failed to load: %s", ep.name, info.error)
    trigger_types = _collect(
        pm, infos, "highway_trigger_types", _trigger_type_names, "trigger_types"
    )
    engines = _collect(pm, infos, "highway_engines", lambda result: list(result.items()), "engines")
    return Plugins(pm, [*infos.values(), *shadowed], trigger_types, engines)


def _trigger_type_names(result: list[type[BaseTrigger]]) -> list[tuple[str, type]]:
    pairs: list[tuple[str, type]] = []
    for cls in result:
        if not (isinstance(cls, type) and issubclass(cls, BaseTrigger)):
            raise TypeError(f"{cls!r} is not a BaseTrigger subclass")
        if not getattr(cls, "subtype", "").isupper():
            raise TypeError(f"{cls.__name__}.subtype must be an upper-case name")
        pairs.append((cls.subtype, cls))
    return pairs


def _collect(
    pm: pluggy.PluginManager,
    infos: dict[str, PluginInfo],
    hook_name: str,
    pairs_of: Callable[[Any], list[tuple[str, type]]],
    listed_as: str,
) -> dict[str, Any]:
    """``name → class`` over every plugin's answer; each name listed on its PluginInfo."""
    found: dict[str, Any] = {}
    providers: dict[str, str] = {}
    for plugin_name, answer in _answers(pm, hook_name, {}):
        info = infos[plugin_name]
        try:
            if isinstance(answer, Exception):
                raise answer
            pairs = pairs_of(answer or [])
        except Exception as exc:
            info.error = _describe(exc)
            log.error("plugin %s failed in %s: %s", plugin_name, hook_name, info.error)
            pm.unregister(name=plugin_name)
            continue
        for name, value in pairs:
            if name in found:
                raise PluginConflictError(
                    f"{hook_name}: {name!r} is provided by both {infos[providers[name]].label} "
                    f"and {info.label}; uninstall one of them or limit HIGHWAY_LOAD_PLUGINS"
                )
            found[name] = value
            providers[name] = plugin_name
            getattr(info, listed_as).append(name)
    return found


def _answers(
    pm: pluggy.PluginManager, hook_name: str, kwargs: dict[str, Any]
) -> list[tuple[str, Any]]:
    """Call ``hook_name`` through pluggy once per implementing plugin (see ``Plugins.answers``)."""
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    answers: list[tuple[str, Any]] = []
    for impl in impls:
        others = [other.plugin for other in impls if other.plugin is not impl.plugin]
        call = pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            results = call(**kwargs)
        except Exception as exc:
            answers.append((impl.plugin_name, exc))
            continue
        answers.append((impl.plugin_name, results[0] if results else None))
    return answers


def _describe(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def _core_version() -> str:
    from highway_triggers import __version__

    return __version__
