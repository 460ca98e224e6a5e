"""A plugin's own settings, read from ``HIGHWAY_<PLUGIN>_*`` environment variables."""

from __future__ import annotations

import re
from typing import Annotated, Any, Self, get_args

from pydantic import AfterValidator, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError


def _base_url(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return url.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_base_url)]
"""A setting's http(s) base URL (a SaaS API's, an engine's), kept without its trailing
slash, so that paths are appended with one."""

HIDDEN = "invalid value (not shown: the setting is secret)"
_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "([^"]+)"')


class PluginSettingsError(ValueError):
    """Invalid plugin settings; the message names each bad variable by its full name."""


class PluginSettings(BaseSettings):
    """Base of a plugin's ``HIGHWAY_<PLUGIN>_*`` settings: subclasses set
    ``model_config = SettingsConfigDict(env_prefix="HIGHWAY_GITHUB_", extra="ignore")``
    and type secrets as :class:`pydantic.SecretStr`."""

    model_config = SettingsConfigDict(extra="ignore")

    @classmethod
    def load(cls) -> Self:
        """The settings from the environment; :class:`PluginSettingsError` when invalid,
        e.g. ``HIGHWAY_SCHEDULER_TIMEZONE: unknown time zone 'Mars/Base'``. A secret's
        rejected value is never part of the message."""
        try:
            return cls()
        except ValidationError as exc:
            problems = [cls._problem(error) for error in exc.errors()]
        except SettingsError as exc:  # a complex value (a list, a dict) that is not JSON
            found = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
            name = cls._variable(found.group(1))[0] if found else cls.__name__
            problems = [f"{name}: not valid JSON"]
        raise PluginSettingsError("; ".join(problems)) from None

    @classmethod
    def _problem(cls, error: ErrorDetails) -> str:
        key, *path = error["loc"] or ("",)
        name, field = cls._variable(str(key))
        message = error["msg"].removeprefix("Value error, ")
        rejected = error.get("input")
        if field is not None and _holds_secret(field.annotation):
            if isinstance(rejected, str) and rejected and rejected in message:
                message = HIDDEN
        return name + "".join(f"[{part}]" for part in path) + f": {message}"

    @classmethod
    def _variable(cls, key: str) -> tuple[str, FieldInfo | None]:
        """The variable an error's location (a field's name or alias) is read from."""
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias or field.alias
            if isinstance(alias, str) and key in (name, alias):
                return alias, field
            if key == name:
                variable = prefix + name
                case_sensitive = cls.model_config.get("case_sensitive")
                return (variable if case_sensitive else variable.upper()), field
        return key or prefix.rstrip("_") or cls.__name__, None


def _holds_secret(annotation: Any) -> bool:
    return annotation in (SecretStr, SecretBytes) or any(
        _holds_secret(arg) for arg in get_args(annotation)
    )
