"""A plugin's HIGHWAY_<PLUGIN>_* settings (core/plugin_settings.py): read from the
environment, errors naming each bad variable, secrets never echoed."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from highway_triggers.core.plugin_settings import (
    HIDDEN,
    BaseUrl,
    PluginSettings,
    PluginSettingsError,
)

SECRET = "s3cr3t-value-never-shown"


class SchedulerSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="HIGHWAY_SCHEDULER_", extra="ignore")

    webhook_secret: SecretStr = Field(max_length=64)
    timezone: str = "UTC"
    max_events: int = Field(default=10, ge=1)
    repositories: list[str] = []
    legacy_port: int = Field(default=8080, validation_alias="SCHEDULER_PORT")
    api_url: BaseUrl = "https://scheduler.example.org/api"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("webhook_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        # careless on purpose: its message shows the value
        if len(secret.get_secret_value()) < 32:
            raise ValueError(f"{secret.get_secret_value()} is shorter than 32 characters")
        return secret


def failure(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    monkeypatch.setenv("HIGHWAY_SCHEDULER_WEBHOOK_SECRET", "x" * 32)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PluginSettingsError) as caught:
        SchedulerSettings.load()
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    return str(caught.value)


def test_valid_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIGHWAY_SCHEDULER_WEBHOOK_SECRET", SECRET * 2)
    monkeypatch.setenv("HIGHWAY_SCHEDULER_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("highway_scheduler_max_events", "3")
    monkeypatch.setenv("HIGHWAY_SCHEDULER_REPOSITORIES", '["a/b", "c/d"]')
    monkeypatch.setenv("HIGHWAY_SCHEDULER_SOMETHING_ELSE", "ignored")
    settings = SchedulerSettings.load()
    assert settings.webhook_secret.get_secret_value() == SECRET * 2
    assert SECRET not in repr(settings)
    assert (settings.timezone, settings.max_events) == ("Europe/Berlin", 3)
    assert (settings.repositories, settings.legacy_port) == (["a/b", "c/d"], 8080)


def test_each_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = failure(
        monkeypatch,
        HIGHWAY_SCHEDULER_TIMEZONE="Mars/Base",
        HIGHWAY_SCHEDULER_MAX_EVENTS="0",
        SCHEDULER_PORT="eighty",
    )
    assert message.split("; ") == [
        "HIGHWAY_SCHEDULER_TIMEZONE: unknown time zone 'Mars/Base'",
        "HIGHWAY_SCHEDULER_MAX_EVENTS: Input should be greater than or equal to 1",
        "SCHEDULER_PORT: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_a_bad_list_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert failure(monkeypatch, HIGHWAY_SCHEDULER_REPOSITORIES="[oops") == (
        "HIGHWAY_SCHEDULER_REPOSITORIES: not valid JSON"
    )
    assert failure(monkeypatch, HIGHWAY_SCHEDULER_REPOSITORIES='["a", 1]') == (
        "HIGHWAY_SCHEDULER_REPOSITORIES[1]: Input should be a valid string"
    )


def test_missing_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HIGHWAY_SCHEDULER_WEBHOOK_SECRET", raising=False)
    with pytest.raises(
        PluginSettingsError, match="^HIGHWAY_SCHEDULER_WEBHOOK_SECRET: Field required$"
    ):
        SchedulerSettings.load()


def test_a_rejected_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    message = failure(monkeypatch, HIGHWAY_SCHEDULER_WEBHOOK_SECRET=SECRET)
    assert message == f"HIGHWAY_SCHEDULER_WEBHOOK_SECRET: {HIDDEN}"
    assert SECRET not in message
    # pydantic's own messages do not show the value: they are kept
    message = failure(monkeypatch, HIGHWAY_SCHEDULER_WEBHOOK_SECRET=SECRET * 3)
    assert message == (
        "HIGHWAY_SCHEDULER_WEBHOOK_SECRET: Value should have at most 64 items after validation,"
        " not 72"
    )


def test_a_base_url_is_http_and_kept_without_its_trailing_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert failure(monkeypatch, HIGHWAY_SCHEDULER_API_URL="ftp://files.example.org") == (
        "HIGHWAY_SCHEDULER_API_URL: must be an http(s) URL"
    )
    monkeypatch.setenv("HIGHWAY_SCHEDULER_API_URL", "http://127.0.0.1:9000/v3/")
    assert SchedulerSettings.load().api_url == "http://127.0.0.1:9000/v3"
