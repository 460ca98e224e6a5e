"""Request bodies as pydantic models: errors become a 422 naming each bad field."""

from __future__ import annotations

from typing import Annotated, Any, Self

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from highway_triggers.core.errors import ConfigError


def check_json_schema(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it is a valid JSON Schema (of the draft it names), else ValueError."""
    try:
        validator_for(value).check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message} (at {exc.json_path})") from None
    return value


JsonSchema = Annotated[dict[str, Any], AfterValidator(check_json_schema)]
"""A JSON object that is a valid JSON Schema."""


class RequestBody(BaseModel):
    """Base of API bodies: strict types, no unknown fields, ``parse`` raises ConfigError."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Self:
        """Validate ``body``; a :class:`ConfigError` (422) names each bad field."""
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            raise ConfigError(
                [
                    {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                    for e in exc.errors()
                ]
            ) from None
