"""pytest fixtures for the gateway's tests and for plugin authors' tests.

Load them with ``pytest_plugins = ["highway_triggers.fixtures"]`` in a root
``conftest.py``. Every test using ``database_url`` (or ``settings``, ``gateway``,
``engine_gateway``) runs on SQLite and on PostgreSQL; without a PostgreSQL server the
PostgreSQL runs skip, except when ``CI`` is set, where they fail.
"""

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from highway_triggers.settings import Settings
from highway_triggers.testing import (
    FakeEngine,
    RunningGateway,
    gateway_settings,
    postgres_available,
    postgres_database,
    running_engine,
    running_gateway,
)

IN_CI = bool(os.environ.get("CI"))


def need_postgres() -> None:
    """Skip without PostgreSQL on a laptop; in CI a missing server is a failure."""
    if not postgres_available():
        message = "PostgreSQL is not reachable at HIGHWAY_TEST_POSTGRES_URL"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def shared_fixtures(request: pytest.FixtureRequest) -> Path:
    """The webhook and event fixtures: ``HIGHWAY_SHARED_FIXTURES``, or the repository's own
    ``tests/fixtures``. Without them a test skips, except in CI, where it fails."""
    folder = Path(
        os.environ.get("HIGHWAY_SHARED_FIXTURES") or request.config.rootpath / "tests" / "fixtures"
    )
    if not (folder / "index.json").is_file():
        message = f"no shared fixtures at {folder} (set HIGHWAY_SHARED_FIXTURES)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture
def postgres_url() -> Iterator[str]:
    need_postgres()
    with postgres_database() as url:
        yield url


@contextmanager
def database_of(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new database of ``kind``: ``sqlite``, a file in ``folder``;
    ``postgresql``, a database of its own, dropped afterwards (see :func:`need_postgres`).
    For a fixture of wider scope than ``database_url``'s (one gateway per module)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'gateway.db'}"
        return
    need_postgres()
    with postgres_database() as url:
        yield url


Hub = TypeVar("Hub")
Serving = Callable[[str, Path, FakeEngine, str], AbstractContextManager[Hub]]
"""``serving(database_url, folder, engine, engine_url)``: a plugin's test gateway (a hub)."""


def module_hubs(name: str, serving: Serving[Hub]) -> tuple[Any, Any]:
    """Two module-scoped fixtures of a plugin's tests, each a gateway from ``serving`` that
    delivers to a fake engine: ``hub``, once on SQLite and once on PostgreSQL, and
    ``sqlite_hub``, on SQLite alone (for tests whose database does not matter). In a
    plugin's ``conftest.py``: ``hub, sqlite_hub = module_hubs("github", serving)``."""

    @contextmanager
    def served(kind: str, folder: Path) -> Iterator[Hub]:
        with (
            running_engine() as (engine, engine_url),
            database_of(kind, folder) as database,
            serving(database, folder, engine, engine_url) as hub,
        ):
            yield hub

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def hub(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Hub]:
        with served(request.param, tmp_path_factory.mktemp(name)) as hub:
            yield hub

    @pytest.fixture(scope="module")
    def sqlite_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
        with served("sqlite", tmp_path_factory.mktemp(f"{name}-sqlite")) as hub:
            yield hub

    return hub, sqlite_hub


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_of(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return gateway_settings(database_url, tmp_path)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[RunningGateway]:
    with running_gateway(settings) as running:
        yield running


@pytest.fixture
def engine() -> Iterator[tuple[FakeEngine, str]]:
    with running_engine() as running:
        yield running


@pytest.fixture
def engine_gateway(
    database_url: str, tmp_path: Path, engine: tuple[FakeEngine, str]
) -> Iterator[tuple[RunningGateway, FakeEngine]]:
    """A gateway whose ``http`` engine adapter talks to a :class:`FakeEngine` on loopback."""
    fake, engine_url = engine
    settings = gateway_settings(database_url, tmp_path, engine="http", engine_url=engine_url)
    with running_gateway(settings) as running:
        yield running, fake


@pytest.fixture(scope="session")
def bytecode_env() -> dict[str, str]:
    """Let subprocesses cache bytecode (outside the repository).

    They start several times faster with cached bytecode, even where
    PYTHONDONTWRITEBYTECODE is set; the cache lives in the temporary directory.
    """
    return {
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "highway-triggers-pycache"),
    }
