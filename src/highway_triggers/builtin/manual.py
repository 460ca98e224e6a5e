"""``MANUAL`` triggers: start a workflow now, from the API."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from highway_triggers.api.schemas import ManualBody
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import accepted, admin_or_tenant, gateway_of, read_object
from highway_triggers.core.openapi import Accepted, operation
from highway_triggers.core.plugins import hookimpl
from highway_triggers.core.trigger import BaseTrigger, TriggerConfig
from highway_triggers.core.validation import idempotency_key, path_identifier


class ManualConfig(TriggerConfig):
    require_confirmation: bool = False
    """Refuse a start whose body lacks ``"confirm": true``."""


class ManualTrigger(BaseTrigger):
    """Started by ``POST /api/v1/triggers/workflows/{workflow_id}/manual``."""

    subtype = "MANUAL"
    Config = ManualConfig


@operation(
    body=ManualBody,
    responses={202: Accepted},
    errors=(404,),
    security="admin_or_tenant",
    idempotency_key=True,
)
async def run_manual(request: Request) -> Response:
    """Start a workflow now with ``{"data": {...}}`` (admin token or the tenant's JWT).

    An ``Idempotency-Key`` header makes a repeated request harmless.
    """
    gateway = gateway_of(request)
    tenant_id = await admin_or_tenant(request)
    workflow_id = path_identifier(request, "workflow_id")
    key = idempotency_key(request)  # scoped to the workflow
    triggers = [
        t
        for t in gateway.manager.index.of_workflow(workflow_id, ManualTrigger.subtype)
        if tenant_id is None or t.tenant_id == tenant_id
    ]
    if not triggers:
        raise HTTPError(
            404, "NO_MANUAL_TRIGGER", f"workflow {workflow_id!r} has no deployed MANUAL trigger"
        )
    body = await read_object(request)
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise HTTPError(400, "MALFORMED_BODY", "data must be a JSON object")
    trigger = triggers[0]
    if getattr(trigger.config, "require_confirmation", False) and body.get("confirm") is not True:
        raise HTTPError(
            400, "CONFIRMATION_REQUIRED", 'this trigger needs "confirm": true in the body'
        )
    result = await trigger.fire(data, idempotency_key=f"{workflow_id}:{key}" if key else None)
    return accepted(result)


@hookimpl
def highway_trigger_types() -> list[type[BaseTrigger]]:
    return [ManualTrigger]


@hookimpl
def highway_routes(gateway: object) -> list[BaseRoute]:
    return [Route("/api/v1/triggers/workflows/{workflow_id}/manual", run_manual, methods=["POST"])]
