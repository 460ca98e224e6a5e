"""Validating what clients send: request bodies as pydantic models (errors become a 422
naming each bad field), and the one rule for identifiers and delivery ids, wherever
they come from (body, path, query, header)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Self, TypeGuard

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from starlette.requests import Request

from highway_triggers.core.errors import ConfigError, HTTPError

IDENTIFIER_MAX_LENGTH = 200
IDENTIFIER_RULE = (
    f"1 to {IDENTIFIER_MAX_LENGTH} characters, ASCII letters, digits and '_.:-', the first a"
    " letter or digit"
)
IDENTIFIER_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{IDENTIFIER_MAX_LENGTH - 1}}}$"
IDENTIFIER_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": IDENTIFIER_MAX_LENGTH,
    "pattern": IDENTIFIER_PATTERN,
}
"""The JSON Schema of :data:`IDENTIFIER_RULE` (a path, query or body field)."""
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
DELIVERY_ID_MAX_LENGTH = 255
DELIVERY_ID_RULE = (
    f"at most {DELIVERY_ID_MAX_LENGTH} visible ASCII characters and spaces, no control characters"
)
DELIVERY_ID_PATTERN = rf"^[\x20-\x7e]{{1,{DELIVERY_ID_MAX_LENGTH}}}$"
DELIVERY_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": DELIVERY_ID_MAX_LENGTH,
    "pattern": DELIVERY_ID_PATTERN,
}
"""The JSON Schema of :data:`DELIVERY_ID_RULE` (a header or path parameter)."""
_DELIVERY_ID = re.compile(DELIVERY_ID_PATTERN)


def is_identifier(value: object) -> TypeGuard[str]:
    """Whether ``value`` names a workflow, tenant, template or other object (see
    :data:`IDENTIFIER_RULE`): no control characters, no ``/``, no ``.``/``..``."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def _identifier(value: str) -> str:
    if not is_identifier(value):
        raise ValueError(IDENTIFIER_RULE)
    return value


Identifier = Annotated[str, AfterValidator(_identifier), WithJsonSchema(IDENTIFIER_SCHEMA)]
"""A field naming a workflow, tenant, template or other object (:data:`IDENTIFIER_RULE`)."""
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")]
"""A field naming an HTTP header: an RFC 9110 token (letters, digits and ``!#$%&'*+-.^_`|~``)."""


def is_text(value: object, max_length: int) -> TypeGuard[str]:
    """Whether ``value`` is a string of 1 to ``max_length`` printable characters (no
    control characters, no line breaks)."""
    return isinstance(value, str) and 0 < len(value) <= max_length and value.isprintable()


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("no control characters or line breaks")
    return value


Printable = AfterValidator(_printable)
"""Metadata of a free-text field (an event name, a run id): no control characters."""


def path_identifier(request: Request, name: str) -> str:
    """The path parameter ``name``; 400 ``INVALID_IDENTIFIER`` naming it unless it is an
    identifier."""
    value: str = request.path_params[name]
    if not is_identifier(value):
        raise HTTPError(400, "INVALID_IDENTIFIER", f"{name}: {IDENTIFIER_RULE}")
    return value


def query_identifier(request: Request, name: str) -> str | None:
    """The query parameter ``name`` (``None`` when absent); 400 ``INVALID_IDENTIFIER``
    naming it unless it is an identifier."""
    value = request.query_params.get(name)
    if value is not None and not is_identifier(value):
        raise HTTPError(400, "INVALID_IDENTIFIER", f"{name}: {IDENTIFIER_RULE}")
    return value


def query_text(request: Request, name: str) -> str | None:
    """The query parameter ``name`` (``None`` when absent); 400 ``UNSUPPORTED_CHARACTER``
    when it holds a NUL, which no stored text holds (PostgreSQL cannot)."""
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise HTTPError(400, "UNSUPPORTED_CHARACTER", f"{name}: holds a NUL character")
    return value


def query_choice(request: Request, name: str, choices: Sequence[str]) -> str | None:
    """The query parameter ``name`` (``None`` when absent or empty); 400
    ``INVALID_PARAMETER`` unless it is one of ``choices``."""
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise HTTPError(400, "INVALID_PARAMETER", f"{name} must be one of {', '.join(choices)}")
    return value


def check_delivery_id(value: str | None, field: str) -> str | None:
    """A delivery id (``Idempotency-Key``, a webhook's ``dedup_header``) as given, ``None``
    when absent or empty; 400 ``INVALID_DELIVERY_ID`` naming ``field`` when it breaks
    :data:`DELIVERY_ID_RULE`."""
    if not value:
        return None
    if _DELIVERY_ID.fullmatch(value) is None:
        raise HTTPError(400, "INVALID_DELIVERY_ID", f"{field}: {DELIVERY_ID_RULE}")
    return value


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header, checked by :func:`check_delivery_id`."""
    return check_delivery_id(request.headers.get("idempotency-key"), "Idempotency-Key")


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
    """Base of API bodies: strict types, finite numbers, no unknown fields; ``parse``
    raises ConfigError."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

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
