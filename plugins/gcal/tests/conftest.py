"""One fake Calendar API per module, and a gateway syncing it per module and database
(SQLite, PostgreSQL): see calendar_api and gcal_hub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from calendar_api import FakeCalendarApi, serving_api
from gcal_hub import Hub, serving

from highway_triggers.fixtures import database_of
from highway_triggers.testing import running_engine


@pytest.fixture(scope="module")
def calendar_api() -> Iterator[tuple[FakeCalendarApi, str]]:
    with serving_api() as served:
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    calendar_api: tuple[FakeCalendarApi, str],
) -> Iterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("gcal")
    with (
        running_engine() as (engine, engine_url),
        database_of(request.param, tmp_path) as database,
        serving(database, tmp_path, engine, engine_url, *calendar_api) as hub,
    ):
        yield hub


@pytest.fixture(scope="module")
def sqlite_hub(
    tmp_path_factory: pytest.TempPathFactory, calendar_api: tuple[FakeCalendarApi, str]
) -> Iterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("gcal-sqlite")
    with (
        running_engine() as (engine, engine_url),
        database_of("sqlite", tmp_path) as database,
        serving(database, tmp_path, engine, engine_url, *calendar_api) as hub,
    ):
        yield hub
