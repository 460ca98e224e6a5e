"""Alembic migrations: the core's, then each plugin's, each with its own version table.

A plugin's revisions live in its own history (``alembic_version_<plugin>``), so that
uninstalling or excluding a plugin never makes the core's migrations fail.
"""

import re
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from highway_triggers.db.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
CORE_VERSION_TABLE = "alembic_version"
PluginLocations = Iterable[tuple[str, Path]]


def version_table(plugin_name: str) -> str:
    return "alembic_version_" + re.sub(r"[^a-z0-9]+", "_", plugin_name.lower()).strip("_")


def alembic_config(versions: Path, table: str) -> Config:
    """An Alembic config for one history: its folder of revisions and its version table."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions))
    config.attributes["version_table"] = table
    return config


def _histories(plugin_locations: PluginLocations) -> list[Config]:
    core = alembic_config(MIGRATIONS / "versions", CORE_VERSION_TABLE)
    return [core, *(alembic_config(path, version_table(name)) for name, path in plugin_locations)]


def upgrade(database: Database, plugin_locations: PluginLocations = ()) -> None:
    """Bring the core's and every plugin's schema to their newest revision."""
    for config in _histories(plugin_locations):
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")


def pending(database: Database, plugin_locations: PluginLocations = ()) -> set[str]:
    """Heads not yet applied to the database (empty when it is up to date)."""
    missing: set[str] = set()
    with database.engine.connect() as connection:
        for config in _histories(plugin_locations):
            script = ScriptDirectory.from_config(config)
            context = MigrationContext.configure(
                connection, opts={"version_table": config.attributes["version_table"]}
            )
            current = set(context.get_current_heads())
            missing |= {
                h for h in script.get_heads() if h not in current and not _below(script, h, current)
            }
    return missing


def _below(script: ScriptDirectory, head: str, current: set[str]) -> bool:
    return any(
        head in {r.revision for r in script.iterate_revisions(rev, "base")} for rev in current
    )
