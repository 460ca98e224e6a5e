"""The data directory: where the SQLite database and the secret key file resolve from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from highway_triggers.core.secrets import SecretCipher
from highway_triggers.db.database import Database
from highway_triggers.settings import Settings


@pytest.fixture(autouse=True)
def no_highway_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets; a home directory of its own; a current directory of its own,
    which must stay empty."""
    for name in list(os.environ):
        if name.startswith("HIGHWAY_") or name == "XDG_DATA_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)


def test_the_default_is_the_users_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "home" / ".local" / "share" / "highway-triggers"
    settings = Settings()
    assert settings.data_dir == data
    assert settings.database_url == f"sqlite:///{data / 'highway-triggers.db'}"
    assert settings.secret_key_file == str(data / ".highway-secret-key")

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().data_dir == tmp_path / "xdg" / "highway-triggers"
    monkeypatch.setenv("XDG_DATA_HOME", "relative")  # not absolute: ignored, as XDG says
    assert Settings().data_dir == data


def test_relative_paths_resolve_against_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("HIGHWAY_DATA_DIR", str(data))
    monkeypatch.setenv("HIGHWAY_DATABASE_URL", "sqlite:///state/gateway.db?timeout=5")
    monkeypatch.setenv("HIGHWAY_SECRET_KEY_FILE", "keys/secret")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{data / 'state' / 'gateway.db'}?timeout=5"
    assert settings.secret_key_file == str(data / "keys" / "secret")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////srv/highway/gateway.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://postgres:pw@db.example:5432/highway",
    ],
)
def test_absolute_memory_and_server_databases_are_kept(url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=url, secret_key_file="/etc/key")
    assert settings.database_url == url
    assert settings.secret_key_file == "/etc/key"


def test_a_relative_data_directory_is_fixed_when_the_settings_are_read(tmp_path: Path) -> None:
    assert Settings(data_dir=Path("here")).data_dir == tmp_path / "cwd" / "here"
    assert Settings(data_dir=Path("~/highway")).data_dir == tmp_path / "home" / "highway"


def open_database(url: str) -> None:
    database = Database(url)
    try:
        with database.engine.connect():
            pass
    finally:
        database.close()


@pytest.mark.parametrize("first", ["database", "key file"])
def test_the_database_and_the_key_file_create_the_data_directory(
    first: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "data")
    for part in (first, {"database": "key file", "key file": "database"}[first]):
        if part == "database":
            open_database(settings.database_url)
        else:
            SecretCipher.from_settings(None, settings.secret_key_file)
    assert settings.data_dir.stat().st_mode & 0o777 == 0o700  # it holds the secret key
    names = {p.name for p in settings.data_dir.iterdir()}
    assert {"highway-triggers.db", ".highway-secret-key"} <= names
    assert list((tmp_path / "cwd").iterdir()) == []
