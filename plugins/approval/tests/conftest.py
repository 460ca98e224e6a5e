"""One approval test gateway per module and database (SQLite, PostgreSQL): see approval_hub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from approval_hub import Hub, serving

from highway_triggers.fixtures import database_of
from highway_triggers.testing import running_engine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("approval")
    with (
        running_engine() as (engine, engine_url),
        database_of(request.param, tmp_path) as database,
        serving(database, tmp_path, engine, engine_url) as hub,
    ):
        yield hub


@pytest.fixture(scope="module")
def sqlite_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A SQLite-only gateway, for tests whose database does not matter (refused links)."""
    tmp_path = tmp_path_factory.mktemp("approval-sqlite")
    with (
        running_engine() as (engine, engine_url),
        database_of("sqlite", tmp_path) as database,
        serving(database, tmp_path, engine, engine_url) as hub,
    ):
        yield hub
