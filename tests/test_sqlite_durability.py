"""SQLite's fsync policy: FULL by default (a 2xx survives power loss), NORMAL on request."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from highway_triggers.db.database import Database
from highway_triggers.settings import Settings
from highway_triggers.testing import gateway_settings, running_gateway

FULL, NORMAL = 2, 1
"""``PRAGMA synchronous`` as SQLite reports it."""


@pytest.mark.parametrize(
    ("setting", "pragma"),
    [(None, FULL), ("FULL", FULL), ("NORMAL", NORMAL), ("normal", NORMAL)],
)
def test_the_gateway_commits_with_the_configured_synchronous(
    tmp_path: Path, setting: str | None, pragma: int
) -> None:
    # None: the Settings default (the test helpers otherwise choose NORMAL, for speed)
    default = Settings.model_fields["sqlite_synchronous"].default
    overrides = {"sqlite_synchronous": default if setting is None else setting}
    settings = gateway_settings(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, **overrides)
    with running_gateway(settings) as running:
        client = running.client()
        deployed = client.post(
            "/api/v1/deployment/workflows/wf/deploy", json={"triggers": [{"type": "MANUAL"}]}
        )
        assert deployed.status_code == 200, deployed.text
        fired = client.post("/api/v1/triggers/workflows/wf/manual", json={"data": {}})
        assert fired.status_code == 202, fired.text  # committed by the writer
        with running.gateway.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_database_opened_without_settings_is_full(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
    finally:
        database.close()


def test_the_setting_defaults_to_full_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HIGHWAY_SQLITE_SYNCHRONOUS", raising=False)
    assert Settings().sqlite_synchronous == "FULL"
    monkeypatch.setenv("HIGHWAY_SQLITE_SYNCHRONOUS", " Normal ")
    assert Settings().sqlite_synchronous == "NORMAL"


@pytest.mark.parametrize("value", ["OFF", "EXTRA", "", "2", "full; PRAGMA x"])
def test_an_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HIGHWAY_SQLITE_SYNCHRONOUS", value)
    with pytest.raises(ValidationError, match="HIGHWAY_SQLITE_SYNCHRONOUS must be FULL or NORMAL"):
        Settings()
