"""Health, detailed health, Prometheus metrics and the OpenAPI description."""

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import DetailedHealth, Health
from highway_triggers.core.http import admin, gateway_of
from highway_triggers.core.openapi import operation
from highway_triggers.core.dispatches import counts_by_status


@operation(responses={200: Health})
async def health(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"service": "highway-triggers", "status": "healthy"})


@admin
@operation(responses={200: DetailedHealth, 503: DetailedHealth})
async def health_detailed(request: Request) -> Response:
    """Database, plugins loaded and failed, triggers by type, dispatch backlog, plugins' own state;
    ``degraded`` with the ``problems`` found (503 only when the database fails)."""
    gateway = gateway_of(request)
    try:
        backlog = await asyncio.to_thread(counts_by_status, gateway.db)
        database: dict[str, Any] = {"status": "ok", "dialect": gateway.db.dialect}
    except Exception as exc:
        backlog = {}
        database = {"status": "error", "dialect": gateway.db.dialect, "error": type(exc).__name__}
    plugins = gateway.plugins
    plugins_health = gateway.plugins_health()
    problems = gateway.problems(plugins_health)
    if database["status"] != "ok":
        problems.insert(0, f"database unavailable: {database['error']}")
    body = {
        "service": "highway-triggers",
        "status": "degraded" if problems else "healthy",
        "problems": problems,
        "database": database,
        "engine": gateway.settings.engine,
        "plugins": {
            "loaded": [p.as_dict() for p in plugins.loaded],
            "failed": [p.as_dict() for p in plugins.failed],
        },
        "triggers": {
            "by_type": gateway.manager.index.count_by_subtype(),
            "revision": gateway.manager.revision,
            "errors": dict(list(gateway.manager.errors.items())[:100]),
        },
        "dispatches": backlog,
        "tasks": gateway.tasks.health(),
        "leases": {name: expiry.isoformat() for name, expiry in gateway.leases.held().items()},
        "plugins_health": plugins_health,
    }
    return JSONResponse(body, status_code=200 if database["status"] == "ok" else 503)


@operation(responses={200: {"type": "string"}}, media_type="text/plain")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry = gateway_of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@operation(responses={200: {"type": "object"}})
async def openapi(request: Request) -> Response:
    """This OpenAPI 3.1 document: every route, plugin routes included."""
    from highway_triggers.api.openapi import describe

    state = request.app.state
    if getattr(state, "openapi", None) is None:  # the routes are fixed once the app is made
        state.openapi = describe(request.app.routes)
    return JSONResponse(state.openapi)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/health/detailed", health_detailed, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
