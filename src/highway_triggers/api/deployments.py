"""Deploy, undeploy and inspect a workflow's triggers."""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of, read_object


@admin
async def deploy(request: Request) -> Response:
    """Deploy (or atomically redeploy) a workflow's triggers."""
    gateway = gateway_of(request)
    workflow_id = request.path_params["workflow_id"]
    body = await read_object(request)
    await asyncio.to_thread(gateway.deployments.deploy, workflow_id, body)
    await gateway.manager.sync()
    failed = {
        t: gateway.manager.errors[t]
        for t in _trigger_ids(gateway, workflow_id)
        if t in gateway.manager.errors
    }
    if failed:
        await asyncio.to_thread(gateway.deployments.mark_failed, workflow_id, failed)
    status = await asyncio.to_thread(gateway.deployments.status, workflow_id)
    return JSONResponse(status, status_code=200)


@admin
async def undeploy(request: Request) -> Response:
    """Stop and remove a workflow's triggers."""
    gateway = gateway_of(request)
    workflow_id = request.path_params["workflow_id"]
    status = await asyncio.to_thread(gateway.deployments.undeploy, workflow_id)
    if status is None:
        raise HTTPError(404, "WORKFLOW_NOT_FOUND", f"workflow {workflow_id!r} was never deployed")
    await gateway.manager.sync()
    return JSONResponse(status)


@admin
async def deployment_status(request: Request) -> Response:
    """A workflow's deployment status, active triggers and history."""
    gateway = gateway_of(request)
    workflow_id = request.path_params["workflow_id"]
    status = await asyncio.to_thread(gateway.deployments.status, workflow_id)
    if status is None:
        return JSONResponse(
            {"workflow_id": workflow_id, "status": "UNDEPLOYED", "triggers": [], "history": []}
        )
    return JSONResponse(status)


def _trigger_ids(gateway, workflow_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.id for t in gateway.manager.index.of_workflow(workflow_id)]


routes = [
    Route("/api/v1/deployment/workflows/{workflow_id}/deploy", deploy, methods=["POST"]),
    Route("/api/v1/deployment/workflows/{workflow_id}/undeploy", undeploy, methods=["POST"]),
    Route("/api/v1/deployment/workflows/{workflow_id}", deployment_status, methods=["GET"]),
]
