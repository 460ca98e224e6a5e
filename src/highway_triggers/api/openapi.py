"""An OpenAPI 3 description built from the mounted routes and their docstrings."""

import inspect
import re
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from highway_triggers import __version__

PUBLIC = {"/health", "/metrics"}
PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def describe(routes: list[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, route in _flatten(routes, ""):
        if not route.include_in_schema:
            continue
        doc = inspect.getdoc(route.endpoint) or ""
        summary, _, description = doc.partition("\n")
        template = PARAM.sub(r"{\1}", path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            operation: dict[str, Any] = {
                "summary": summary or route.name,
                "operationId": f"{method.lower()}_{route.name}",
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in PARAM.findall(path)
                ],
                "responses": {
                    "default": {"description": "JSON; errors as {status, code, message}"}
                },
            }
            if description.strip():
                operation["description"] = description.strip()
            if path not in PUBLIC:
                operation["security"] = [{"bearer": []}]
            paths.setdefault(template, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "highway-triggers", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _flatten(routes: list[BaseRoute], prefix: str) -> list[tuple[str, Route]]:
    found: list[tuple[str, Route]] = []
    for route in routes:
        if isinstance(route, Route):
            found.append((prefix + route.path, route))
        elif isinstance(route, Mount):
            found.extend(_flatten(list(route.routes), prefix + route.path))
    return found
