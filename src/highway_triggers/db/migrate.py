"""Alembic migrations of the core and of every plugin (each plugin its own branch)."""

import os
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from highway_triggers.db.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(plugin_locations: Iterable[str | Path] = ()) -> Config:
    """An Alembic config whose version locations are the core's plus the plugins'."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    locations = [str(MIGRATIONS / "versions"), *(str(p) for p in plugin_locations)]
    config.set_main_option("version_locations", os.pathsep.join(locations))
    return config


def upgrade(database: Database, plugin_locations: Iterable[str | Path] = ()) -> None:
    """Bring the schema to the newest revision of every branch."""
    config = alembic_config(plugin_locations)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def pending(database: Database, plugin_locations: Iterable[str | Path] = ()) -> set[str]:
    """Heads not yet applied to the database (empty when it is up to date)."""
    script = ScriptDirectory.from_config(alembic_config(plugin_locations))
    with database.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return {
        head
        for head in script.get_heads()
        if not any(head == rev or _is_ancestor(script, head, rev) for rev in current)
    }


def _is_ancestor(script: ScriptDirectory, ancestor: str, of: str) -> bool:
    return any(r.revision == ancestor for r in script.iterate_revisions(of, "base"))
