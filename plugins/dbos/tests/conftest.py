from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbos_server import Dbos, running_dbos

from highway_triggers.fixtures import need_postgres
from highway_triggers.testing import postgres_database


@pytest.fixture(scope="module")
def dbos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dbos]:
    """A DBOS application on a PostgreSQL database of its own, per test module."""
    need_postgres()
    with (
        postgres_database() as database_url,
        running_dbos(database_url, tmp_path_factory.mktemp("dbos")) as app,
    ):
        yield app
