"""Tenants: create one (its JWT secret is shown once) and rotate its secret."""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of, read_object


@admin
async def create_tenant(request: Request) -> Response:
    """``{"tenant_id", "rate_limit_per_second"?, "burst"?}`` → the tenant's JWT secret."""
    body = await read_object(request)
    tenant_id = body.get("tenant_id")
    rate, burst = body.get("rate_limit_per_second"), body.get("burst")
    if not isinstance(tenant_id, str):
        raise HTTPError(422, "VALIDATION_ERROR", "tenant_id: required string")
    if rate is not None and (not isinstance(rate, int | float) or rate <= 0):
        raise HTTPError(422, "VALIDATION_ERROR", "rate_limit_per_second: must be a positive number")
    if burst is not None and (not isinstance(burst, int) or burst < 1):
        raise HTTPError(422, "VALIDATION_ERROR", "burst: must be a positive integer")
    secret = await asyncio.to_thread(gateway_of(request).tenants.create, tenant_id, rate, burst)
    return JSONResponse({"tenant_id": tenant_id, "jwt_secret": secret}, status_code=201)


@admin
async def rotate_tenant(request: Request) -> Response:
    """Issue a new JWT secret; tokens signed with the old one stop working."""
    gateway = gateway_of(request)
    tenant_id = request.path_params["tenant_id"]
    secret = await asyncio.to_thread(gateway.tenants.rotate, tenant_id)
    gateway.auth.forget_tenant(tenant_id)
    return JSONResponse({"tenant_id": tenant_id, "jwt_secret": secret})


routes = [
    Route("/api/v1/tenants", create_tenant, methods=["POST"]),
    Route("/api/v1/tenants/{tenant_id}/rotate", rotate_tenant, methods=["POST"]),
]
