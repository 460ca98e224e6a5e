"""Health, detailed health, Prometheus metrics and the OpenAPI description."""

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.http import admin, gateway_of
from highway_triggers.core.dispatches import counts_by_status


async def health(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"service": "highway-triggers", "status": "healthy"})


@admin
async def health_detailed(request: Request) -> Response:
    """Database, plugins loaded and failed, triggers by type, dispatch backlog, plugins' own state."""
    gateway = gateway_of(request)
    try:
        backlog = await asyncio.to_thread(counts_by_status, gateway.db)
        database: dict[str, Any] = {"status": "ok", "dialect": gateway.db.dialect}
    except Exception as exc:
        backlog = {}
        database = {"status": "error", "dialect": gateway.db.dialect, "error": type(exc).__name__}
    plugins = gateway.plugins
    body = {
        "service": "highway-triggers",
        "status": "healthy" if database["status"] == "ok" else "degraded",
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
        "plugins_health": gateway.plugins_health(),
    }
    return JSONResponse(body, status_code=200 if database["status"] == "ok" else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry = gateway_of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    """OpenAPI 3 description of every route, plugin routes included."""
    from highway_triggers.api.openapi import describe

    return JSONResponse(describe(request.app.routes))


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/health/detailed", health_detailed, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]
