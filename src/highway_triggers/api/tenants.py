"""Tenants: list them, create one (its JWT secret is shown once) and rotate its secret."""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import Tenants, TenantSecret
from highway_triggers.core.http import admin, gateway_of, read_object
from highway_triggers.core.openapi import operation
from highway_triggers.core.paging import LIMIT_SCHEMA, PageRequest
from highway_triggers.core.tenants import TenantSpec
from highway_triggers.core.validation import IDENTIFIER_SCHEMA, path_identifier


@admin
@operation(
    query={"limit": LIMIT_SCHEMA, "cursor": IDENTIFIER_SCHEMA},
    responses={200: Tenants},
    errors=(400,),
)
async def list_tenants(request: Request) -> Response:
    """Tenants in id order, a page at a time (``limit``, ``cursor``); never their secrets."""
    page = PageRequest.of(request, IDENTIFIER_SCHEMA["pattern"])
    rows = await asyncio.to_thread(gateway_of(request).tenants.page, page.cursor, page.fetch)
    return JSONResponse(page.page("tenants", rows, "tenant_id"))


@admin
@operation(body=TenantSpec, responses={201: TenantSecret}, errors=(409,))
async def create_tenant(request: Request) -> Response:
    """``{"tenant_id", "rate_limit_per_second"?, "burst"?}`` → the tenant's JWT secret."""
    spec = TenantSpec.parse(await read_object(request))
    secret = await asyncio.to_thread(gateway_of(request).tenants.create, spec)
    return JSONResponse({"tenant_id": spec.tenant_id, "jwt_secret": secret}, status_code=201)


@admin
@operation(responses={200: TenantSecret}, errors=(404,))
async def rotate_tenant(request: Request) -> Response:
    """Issue a new JWT secret; tokens signed with the old one stop working."""
    gateway = gateway_of(request)
    tenant_id = path_identifier(request, "tenant_id")
    secret = await asyncio.to_thread(gateway.tenants.rotate, tenant_id)
    gateway.auth.forget_tenant(tenant_id)
    return JSONResponse({"tenant_id": tenant_id, "jwt_secret": secret})


routes = [
    Route("/api/v1/tenants", list_tenants, methods=["GET"]),
    Route("/api/v1/tenants", create_tenant, methods=["POST"]),
    Route("/api/v1/tenants/{tenant_id}/rotate", rotate_tenant, methods=["POST"]),
]
