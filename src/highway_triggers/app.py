"""``create_app(settings)``: core routes plus every plugin's, one Starlette app, no globals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan

from highway_triggers.api import (
    deliveries,
    deployments,
    dispatches,
    events,
    health,
    hooks,
    templates,
    tenants,
    triggers,
    waits,
)
from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.http import (
    BodyLimit,
    handle_client_disconnect,
    handle_config_error,
    handle_http_error,
    handle_starlette_error,
    handle_unexpected,
)
from highway_triggers.core.ipfilter import Networks
from highway_triggers.core.request_log import RequestLog
from highway_triggers.core.routing import IndexedRouter
from highway_triggers.gateway import Gateway
from highway_triggers.logs import configure_logging
from highway_triggers.settings import Settings

INGRESS_ROUTES = events.routes + hooks.routes
"""Matched first (Starlette tries routes in order), then plugins' routes, then the rest."""
OTHER_ROUTES = (
    health.routes,
    deployments.routes,
    triggers.routes,
    dispatches.routes,
    deliveries.routes,
    tenants.routes,
    templates.routes,
    waits.routes,
)


class GatewayApp(Starlette):
    """Starlette, with the :class:`RequestLog` around everything, the handler of unexpected
    errors included (it sees their 500s), and an :class:`IndexedRouter`."""

    def __init__(
        self,
        *,
        routes: list[BaseRoute],
        lifespan: Lifespan[Starlette] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.router = IndexedRouter(routes, lifespan=lifespan)

    def build_middleware_stack(self) -> ASGIApp:
        settings = self.state.core.settings
        return RequestLog(
            super().build_middleware_stack(),
            access_log=settings.access_log,
            tracing=self.state.core.tracing,
            trusted=Networks.from_csv(settings.trusted_proxies),
        )


def create_app(settings: Settings | None = None, gateway: Gateway | None = None) -> Starlette:
    """Build the ASGI app; the gateway starts and stops with the app's lifespan."""
    settings = settings or (gateway.settings if gateway else Settings())
    gateway = gateway or Gateway(settings)
    routes: list[BaseRoute] = list(INGRESS_ROUTES)
    for plugin_name, plugin_routes in gateway.plugins.call_each(
        "highway_routes", gateway=gateway.context
    ):
        for route in plugin_routes or ():
            path = getattr(route, "path", "")
            if not path.startswith("/api/v1/"):
                raise ValueError(f"plugin {plugin_name}: route {path!r} must start with /api/v1/")
            routes.append(route)
    routes += [route for group in OTHER_ROUTES for route in group]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = GatewayApp(
        routes=routes,
        middleware=[
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers={
            HTTPError: handle_http_error,
            ConfigError: handle_config_error,
            HTTPException: handle_starlette_error,
            ClientDisconnect: handle_client_disconnect,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.gateway = gateway.context  # what plugins' routes see
    app.state.core = gateway
    return app


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory highway_triggers.app:app_from_environment``."""
    settings = Settings()
    configure_logging(settings)
    return create_app(settings)
