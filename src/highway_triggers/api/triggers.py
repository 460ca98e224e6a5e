"""List triggers; create, update and delete stand-alone triggers (e.g. EVENT)."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import Trigger, TriggerBody, Triggers
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of, read_object
from highway_triggers.core.openapi import Partial, operation
from highway_triggers.core.validation import IDENTIFIER_SCHEMA, path_identifier, query_identifier

FILTERS = ("type", "workflow_id", "tenant_id")


@admin
@operation(
    query=dict.fromkeys(FILTERS, IDENTIFIER_SCHEMA), responses={200: Triggers}, errors=(400,)
)
async def list_triggers(request: Request) -> Response:
    """Active triggers; filters ``type``, ``workflow_id``, ``tenant_id``."""
    filters = {name: query_identifier(request, name) for name in FILTERS}
    triggers = await gateway_of(request).deployments.list_triggers(**filters)
    return JSONResponse({"triggers": triggers, "count": len(triggers)})


@admin
@operation(body=TriggerBody, responses={201: Trigger}, errors=(409, 422))
async def create_trigger(request: Request) -> Response:
    """Create a stand-alone trigger: ``{"type", "config", "workflow_id" or "template", "tenant_id"?}``."""
    body = await read_object(request)
    trigger = await gateway_of(request).deployments.create_trigger(body)
    return JSONResponse(trigger, status_code=201)


@admin
@operation(responses={200: Trigger}, errors=(404,))
async def get_trigger(request: Request) -> Response:
    """One active trigger."""
    trigger = await gateway_of(request).deployments.get_trigger(_trigger_id(request))
    if trigger is None:
        raise _not_found(request)
    return JSONResponse(trigger)


@admin
@operation(body=Partial(TriggerBody), responses={200: Trigger}, errors=(404, 409))
async def update_trigger(request: Request) -> Response:
    """Replace a trigger's config (and optionally its workflow or tenant)."""
    body = await read_object(request)
    deployments = gateway_of(request).deployments
    trigger = await deployments.update_trigger(_trigger_id(request), body)
    if trigger is None:
        raise _not_found(request)
    return JSONResponse(trigger)


@admin
@operation(responses={204: None}, errors=(404,))
async def delete_trigger(request: Request) -> Response:
    """Stop and remove a trigger."""
    if not await gateway_of(request).deployments.delete_trigger(_trigger_id(request)):
        raise _not_found(request)
    return Response(status_code=204)


def _trigger_id(request: Request) -> str:
    return path_identifier(request, "trigger_id")


def _not_found(request: Request) -> HTTPError:
    return HTTPError(404, "TRIGGER_NOT_FOUND", f"no active trigger {_trigger_id(request)!r}")


routes = [
    Route("/api/v1/triggers", list_triggers, methods=["GET"]),
    Route("/api/v1/triggers", create_trigger, methods=["POST"]),
    Route("/api/v1/triggers/{trigger_id}", get_trigger, methods=["GET"]),
    Route("/api/v1/triggers/{trigger_id}", update_trigger, methods=["PUT"]),
    Route("/api/v1/triggers/{trigger_id}", delete_trigger, methods=["DELETE"]),
]
