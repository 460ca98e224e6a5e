"""The plugin is an installed distribution, found through its entry point like any other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution, entry_points

import sqlalchemy as sa
from packaging.requirements import Requirement

from highway_triggers.plugin import Database
from highway_triggers.testing import RunningGateway, load_plugins

NAME = "highway-triggers-cron"


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "highway_triggers.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_the_distribution_declares_its_entry_point_and_only_three_dependencies() -> None:
    (entry,) = entry_points(group="highway_triggers", name=NAME)
    assert entry.value == "highway_triggers_cron"
    assert entry.dist is not None and entry.dist.name == NAME
    requires = {Requirement(r).name for r in distribution(NAME).requires or []}
    assert requires == {"highway-triggers", "apscheduler", "click"}


def test_it_is_loaded_from_its_entry_point() -> None:
    plugins = load_plugins()
    (info,) = [p for p in plugins.infos if p.name == NAME]
    assert (info.distribution, info.trigger_types, info.error) == (NAME, ["CRON"], None)
    assert plugins.trigger_types["CRON"].__module__ == "highway_triggers_cron.trigger"
    assert "CRON" not in load_plugins(only="").trigger_types  # HIGHWAY_LOAD_PLUGINS leaves it out

    listed = cli("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    (shown,) = [p for p in json.loads(listed.stdout) if p["name"] == NAME]
    assert shown["trigger_types"] == ["CRON"] and shown["error"] is None


def test_db_upgrade_creates_the_claims_table_on_its_own_branch(database_url: str) -> None:
    done = cli("db", "upgrade", HIGHWAY_DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    database = Database(database_url)
    try:
        with database.engine.connect() as conn:
            assert "cron_claims" in sa.inspect(conn).get_table_names()
            version = conn.execute(
                sa.text("SELECT version_num FROM alembic_version_highway_triggers_cron")
            )
            assert version.scalars().all() == ["cron_0001"]
    finally:
        database.close()


def test_routes_are_described_in_openapi(gateway: RunningGateway) -> None:
    paths = gateway.client().get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/schedules"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/schedules/{schedule_id}"])
    for action in ("pause", "resume"):
        assert "post" in paths[f"/api/v1/schedules/{{schedule_id}}/{action}"]
    assert "get" in paths["/api/v1/schedules/{schedule_id}/preview"]
