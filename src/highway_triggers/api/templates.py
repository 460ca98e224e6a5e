"""Workflow templates: CRUD (admin) and ``POST /api/v1/templates/{name}/run``.

A template belongs to a tenant, given as ``tenant_id`` in the body or the query; on the
``{name}`` routes it may be left out when only one tenant has a template of that name.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import RunBody, Template, Templates
from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.http import accepted, admin, admin_or_tenant, gateway_of, read_object
from highway_triggers.core.openapi import Accepted, Partial, operation
from highway_triggers.core.templates import (
    TemplateSpec,
    TemplateTrigger,
    input_errors,
    workflow_id_of,
)
from highway_triggers.core.trigger import TriggerConfig
from highway_triggers.core.validation import (
    IDENTIFIER_RULE,
    IDENTIFIER_SCHEMA,
    idempotency_key,
    is_identifier,
    path_identifier,
    query_identifier,
    query_text,
)

TENANT = {"tenant_id": IDENTIFIER_SCHEMA}
"""The ``tenant_id`` query parameter: the tenant whose template is meant."""


@admin
@operation(body=TemplateSpec, query=TENANT, responses={201: Template}, errors=(409,))
async def create_template(request: Request) -> Response:
    """Create a template: ``{"tenant_id", "name", "workflow_definition", "input_schema"?, …}``.

    409 ``TEMPLATE_EXISTS`` when the tenant has a template of that name; 422 when
    ``input_schema`` is not a valid JSON Schema.
    """
    gateway = gateway_of(request)
    body = await read_object(request)
    if "tenant_id" not in body and (tenant_id := _tenant(request)):
        body["tenant_id"] = tenant_id
    template = await gateway.db.write(gateway.templates.create, body)
    return JSONResponse(template, status_code=201)


@admin
@operation(
    query={**TENANT, "category": {"type": "string"}}, responses={200: Templates}, errors=(400,)
)
async def list_templates(request: Request) -> Response:
    """Templates, by tenant and name; filters ``tenant_id``, ``category``."""
    gateway = gateway_of(request)
    category = query_text(request, "category")
    found = await gateway.db.call(gateway.templates.list, _tenant(request), category)
    return JSONResponse({"templates": found, "count": len(found)})


@admin
@operation(query=TENANT, responses={200: Template}, errors=(404,))
async def get_template(request: Request) -> Response:
    """One template (``?tenant_id=`` when several tenants use the name)."""
    gateway = gateway_of(request)
    return JSONResponse(
        await gateway.db.call(gateway.templates.get, _name(request), _tenant(request))
    )


@admin
@operation(body=Partial(TemplateSpec), query=TENANT, responses={200: Template}, errors=(404, 409))
async def update_template(request: Request) -> Response:
    """Replace the fields the body gives; ``name`` renames it (409 if the new name is taken)."""
    gateway = gateway_of(request)
    body = await read_object(request)
    tenant_id = _tenant(request) or _body_tenant(body)
    template = await gateway.db.write(gateway.templates.update, _name(request), tenant_id, body)
    return JSONResponse(template)


@admin
@operation(query=TENANT, responses={204: None}, errors=(404,))
async def delete_template(request: Request) -> Response:
    """Delete a template; runs it started are not affected."""
    gateway = gateway_of(request)
    await gateway.db.write(gateway.templates.delete, _name(request), _tenant(request))
    return Response(status_code=204)


@operation(
    body=RunBody,
    query=TENANT,
    responses={202: Accepted},
    errors=(404, 422, 429),
    security="admin_or_tenant",
    idempotency_key=True,
)
async def run_template(request: Request) -> Response:
    """Start the template's workflow with ``{"input": {...}}`` (or ``{"data": {...}}``).

    Admin token or the tenant's JWT (which reaches that tenant's templates only, within
    the tenant's event rate limit: 429 with ``Retry-After``). The
    input is checked against ``input_schema``: 400 ``INVALID_INPUT`` lists every
    violation in ``errors`` (``path``, ``message``). The start goes through the
    dispatch outbox; an ``Idempotency-Key`` header makes a repeated request harmless.
    """
    gateway = gateway_of(request)
    claimed = await admin_or_tenant(request)
    if claimed is not None:
        gateway.event_limits.check(claimed, *await gateway.auth.tenant_limits(claimed))
    body = await read_object(request)
    asked = _tenant(request) or _body_tenant(body)
    if claimed is not None and asked is not None and asked != claimed:
        raise HTTPError(403, "FORBIDDEN", "the token belongs to another tenant")
    name = _name(request)
    template = await gateway.db.call(gateway.templates.get, name, claimed or asked)
    data = _input(body)
    if errors := input_errors(template["input_schema"], data):
        first = errors[0]
        raise HTTPError(
            400,
            "INVALID_INPUT",
            f"the input breaks the template's input_schema in {len(errors)} place(s); "
            f"first at {first['path']}: {first['message']}",
            extra={"errors": errors},
        )
    trigger = TemplateTrigger(
        id=template["template_id"],
        workflow_id=workflow_id_of(template),
        tenant_id=template["tenant_id"],
        config=TriggerConfig(),
        context=gateway.context,
    )
    key = idempotency_key(request)
    result = await trigger.fire(  # the key is scoped to the tenant's template
        data, idempotency_key=f"{template['tenant_id']}:{name}:{key}" if key else None
    )
    return accepted(result)


def _input(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("input", body.get("data", {}))
    if not isinstance(data, dict):
        raise HTTPError(400, "MALFORMED_BODY", "input must be a JSON object")
    return data


def _name(request: Request) -> str:
    return path_identifier(request, "name")


def _tenant(request: Request) -> str | None:
    return query_identifier(request, "tenant_id")


def _body_tenant(body: dict[str, Any]) -> str | None:
    """The body's ``tenant_id``, when it gives one; 422 naming it unless it is an identifier."""
    tenant_id = body.get("tenant_id")
    if tenant_id is not None and not is_identifier(tenant_id):
        raise ConfigError([{"field": "tenant_id", "message": IDENTIFIER_RULE}])
    return tenant_id


routes = [
    Route("/api/v1/templates", create_template, methods=["POST"]),
    Route("/api/v1/templates", list_templates, methods=["GET"]),
    Route("/api/v1/templates/{name}", get_template, methods=["GET"]),
    Route("/api/v1/templates/{name}", update_template, methods=["PUT"]),
    Route("/api/v1/templates/{name}", delete_template, methods=["DELETE"]),
    Route("/api/v1/templates/{name}/run", run_template, methods=["POST"]),
]
