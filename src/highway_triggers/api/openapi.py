"""The OpenAPI 3.1 document of the mounted routes, built from their declarations
(:func:`~highway_triggers.core.openapi.operation`) and docstrings."""

from __future__ import annotations

import inspect
import re
from http import HTTPStatus
from typing import Any, TypeGuard

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute, Mount, Route

from highway_triggers import __version__
from highway_triggers.core.openapi import Error, Operation, Partial, Schema, operation_of
from highway_triggers.core.validation import (
    DELIVERY_ID_RULE,
    DELIVERY_ID_SCHEMA,
    IDENTIFIER_RULE,
    IDENTIFIER_SCHEMA,
    RequestBody,
)

PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
REF = "#/components/schemas/{model}"
ERROR = {"$ref": REF.format(model="Error")}
SECURITY_SCHEMES = {
    "admin": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (HIGHWAY_ADMIN_TOKEN) or an admin API key.",
    },
    "tenant": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT (HS256) signed with the tenant's secret, with tenant_id and exp.",
    },
}
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"admin": []}],
    "tenant": [{"tenant": []}],
    "admin_or_tenant": [{"admin": []}, {"tenant": []}],
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": f"Makes a repeated delivery harmless; {DELIVERY_ID_RULE}.",
    "schema": DELIVERY_ID_SCHEMA,
}
UNDECLARED = Operation()


def describe(routes: list[BaseRoute]) -> dict[str, Any]:
    """The document: one operation per route and method (``HEAD`` left out)."""
    found = [
        (path, route, operation_of(route.endpoint) or UNDECLARED)
        for path, route in _flatten(routes, "")
        if route.include_in_schema
    ]
    schemas = _Schemas([declared for _, _, declared in found])
    paths: dict[str, dict[str, Any]] = {}
    for path, route, declared in found:
        described = _operation(path, route, declared, schemas)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            entry = {**described, "operationId": f"{method.lower()}_{route.name}"}
            paths.setdefault(PARAM.sub(r"{\1}", path), {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "highway-triggers", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": SECURITY_SCHEMES},
    }


class _Schemas:
    """The JSON Schemas of every model the operations name, generated together so that
    the models they share are listed once under ``components/schemas``."""

    def __init__(self, operations: list[Operation]) -> None:
        wanted: set[tuple[type[BaseModel], JsonSchemaMode]] = {(Error, "serialization")}
        for declared in operations:
            body = declared.body.model if isinstance(declared.body, Partial) else declared.body
            if _is_model(body):
                wanted.add((body, "validation"))
            for answer in declared.responses.values():
                if _is_model(answer):
                    wanted.add((answer, "serialization"))
        refs, top = models_json_schema(
            sorted(wanted, key=lambda pair: (pair[0].__qualname__, pair[1])), ref_template=REF
        )
        self._refs = refs
        self.components: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))

    def of(self, schema: Schema | None, mode: JsonSchemaMode) -> dict[str, Any]:
        if schema is None:
            return {}
        return dict(self._refs[(schema, mode)]) if isinstance(schema, type) else schema

    def partial(self, body: Partial) -> dict[str, Any]:
        """The model's schema inline, with no field required."""
        name = self._refs[(body.model, "validation")]["$ref"].rsplit("/", 1)[-1]
        whole = self.components[name]
        return {
            **{key: value for key, value in whole.items() if key != "required"},
            "title": f"{whole.get('title', name)} (the fields to change)",
        }


def _is_model(schema: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def _operation(path: str, route: Route, declared: Operation, schemas: _Schemas) -> dict[str, Any]:
    summary, _, description = (inspect.getdoc(route.endpoint) or "").partition("\n")
    errors = set(declared.errors)
    parameters = []
    for name in PARAM.findall(path):
        if name not in declared.path:
            errors.add(400)
        schema = declared.path.get(name, IDENTIFIER_SCHEMA)
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        if schema is IDENTIFIER_SCHEMA:
            parameters[-1]["description"] = IDENTIFIER_RULE
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in declared.query.items()
    ]
    if declared.idempotency_key:
        parameters.append(IDEMPOTENCY_KEY)
        errors.add(400)
    described: dict[str, Any] = {"summary": summary or route.name}
    if description.strip():
        described["description"] = description.strip()
    described["parameters"] = parameters
    if declared.body is not None:
        errors |= {400, 413}
        body = declared.body
        if isinstance(body, Partial):
            schema = schemas.partial(body)
        else:
            schema = schemas.of(body, "validation")
        if isinstance(body, Partial) or (_is_model(body) and issubclass(body, RequestBody)):
            errors.add(422)
        described["requestBody"] = {
            "required": False,
            "content": {declared.body_media_type: {"schema": schema}},
        }
    if declared.security is not None:  # else none: the route checks a signature or token
        errors |= {401, 403} if "tenant" in declared.security else {401}
        described["security"] = SECURITY[declared.security]
    described["responses"] = _responses(declared, errors, schemas)
    return described


def _responses(declared: Operation, errors: set[int], schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in sorted(declared.responses.items(), key=lambda item: str(item[0])):
        answer: dict[str, Any] = {"description": _phrase(status)}
        if schema is not None:
            content = {"schema": schemas.of(schema, "serialization")}
            answer["content"] = {declared.media_type: content}
        responses[str(status)] = answer
    if not responses:
        responses["default"] = {"description": "Not described", "content": {"*/*": {"schema": {}}}}
    error: dict[str, Any] = {"application/json": {"schema": ERROR}}
    if declared.pages:  # an error page, or the error body for a client that asks for JSON
        error = {"text/html": {"schema": {"type": "string"}}, **error}
    for status in sorted(errors):
        responses[str(status)] = {"description": _phrase(status), "content": error}
    return responses


def _phrase(status: int | str) -> str:
    return "Any other answer" if status == "default" else HTTPStatus(int(status)).phrase


def _flatten(routes: list[BaseRoute], prefix: str) -> list[tuple[str, Route]]:
    found: list[tuple[str, Route]] = []
    for route in routes:
        if isinstance(route, Route):
            found.append((prefix + route.path, route))
        elif isinstance(route, Mount):
            found.extend(_flatten(list(route.routes), prefix + route.path))
    return found
