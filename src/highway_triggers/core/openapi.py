"""How a route describes itself in ``GET /openapi.json``: :func:`operation` stores an
:class:`Operation` on the endpoint, and the document (``api/openapi.py``) is built from
the declarations of the mounted routes.

Schemas are pydantic models (the ``RequestBody`` models that validate bodies, or
models written for the document) or plain JSON Schema dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

Security = Literal["admin", "tenant", "admin_or_tenant"]
"""Who may call: an admin bearer token (``HIGHWAY_ADMIN_TOKEN`` or an API key), a
tenant's JWT, or either. No security: the route checks a signature or a token itself
(or is public)."""
Schema = type[BaseModel] | dict[str, Any]
"""A pydantic model (listed under ``components/schemas``) or an inline JSON Schema."""
E = TypeVar("E", bound=Callable[..., Any])

ATTRIBUTE = "__highway_operation__"


class Error(BaseModel):
    """Every error answer (``HTTPError.body``); a 422 lists each bad field in ``errors``."""

    status: Literal["error"]
    code: str
    message: str
    errors: list[dict[str, Any]] = []


class Accepted(BaseModel):
    """Accepted ingress (202, the body of ``accepted``): runs started or resumed, or a
    repeated delivery (``duplicate``) that did nothing."""

    status: Literal["accepted"]
    event_id: str
    delivered_to: int
    dispatch_ids: list[str]
    duplicate: bool
    message: str


@dataclass(frozen=True, slots=True)
class Partial:
    """A body that gives some of ``model``'s fields (an update): its schema, none required."""

    model: type[BaseModel]


@dataclass(frozen=True, slots=True)
class Operation:
    """What ``GET /openapi.json`` says of a route (see :func:`operation`)."""

    body: Schema | Partial | None = None
    body_media_type: str = "application/json"
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    path: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    responses: Mapping[int | Literal["default"], Schema | None] = field(default_factory=dict)
    media_type: str = "application/json"
    errors: tuple[int, ...] = ()
    security: Security | None = None
    idempotency_key: bool = False
    pages: bool = False
    """The route answers HTML pages (:func:`~highway_triggers.core.pages.html_endpoint`):
    its errors are pages, or the error body for a client that asks for JSON."""


def operation(
    *,
    body: Schema | Partial | None = None,
    body_media_type: str = "application/json",
    query: Mapping[str, dict[str, Any]] | None = None,
    path: Mapping[str, dict[str, Any]] | None = None,
    responses: Mapping[int | Literal["default"], Schema | None] | None = None,
    media_type: str = "application/json",
    errors: tuple[int, ...] = (),
    security: Security | None = None,
    idempotency_key: bool = False,
) -> Callable[[E], E]:
    """Declare what an endpoint takes and answers, for ``GET /openapi.json``.

    ``body``: the request body's schema (of ``body_media_type``); ``query``: the query
    parameters' schemas by name (all optional); ``path``: schemas of path parameters
    that are not identifiers (the default); ``responses``: success statuses and their
    schemas (``None``: no body; ``"default"``: any other answer), of ``media_type``;
    ``errors``: the statuses the route answers with the error body, besides those that
    follow from the rest (401 from ``security``, and 403 where a tenant may call, 400 and
    413 from a body, 422 from a ``RequestBody`` or :class:`Partial` body, 400 from
    identifier path parameters and the ``Idempotency-Key`` header); ``idempotency_key``:
    the route reads an ``Idempotency-Key`` header. ``admin`` sets ``security="admin"``
    itself.
    """
    declared = Operation(
        body=body,
        body_media_type=body_media_type,
        query=query or {},
        path=path or {},
        responses=responses or {},
        media_type=media_type,
        errors=errors,
        security=security,
        idempotency_key=idempotency_key,
    )

    def mark(endpoint: E) -> E:
        previous = operation_of(endpoint)
        if previous is None:
            return _with(endpoint, declared)
        kept = dataclasses.replace(
            declared, security=security or previous.security, pages=previous.pages
        )
        return _with(endpoint, kept)

    return mark


def operation_of(endpoint: Callable[..., Any]) -> Operation | None:
    """The endpoint's declaration, if it has one."""
    found: Operation | None = getattr(endpoint, ATTRIBUTE, None)
    return found


def secured(endpoint: E, security: Security) -> E:
    """``endpoint`` with ``security`` added to its declaration (made if it has none)."""
    return _with(
        endpoint, dataclasses.replace(operation_of(endpoint) or Operation(), security=security)
    )


def paged(endpoint: E) -> E:
    """``endpoint`` declared as answering pages (made if it has no declaration)."""
    return _with(endpoint, dataclasses.replace(operation_of(endpoint) or Operation(), pages=True))


def _with(endpoint: E, declared: Operation) -> E:
    setattr(endpoint, ATTRIBUTE, declared)
    return endpoint
