"""Deploy, undeploy and inspect a workflow's triggers."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import DeployBody, Deployment
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of, read_object
from highway_triggers.core.openapi import operation
from highway_triggers.core.validation import path_identifier


@admin
@operation(body=DeployBody, responses={200: Deployment}, errors=(409, 422))
async def deploy(request: Request) -> Response:
    """Deploy (or atomically redeploy) a workflow's triggers."""
    deployments = gateway_of(request).deployments
    status = await deployments.deploy(
        path_identifier(request, "workflow_id"), await read_object(request)
    )
    return JSONResponse(status, status_code=200)


@admin
@operation(responses={200: Deployment}, errors=(404,))
async def undeploy(request: Request) -> Response:
    """Stop and remove a workflow's triggers."""
    workflow_id = path_identifier(request, "workflow_id")
    status = await gateway_of(request).deployments.undeploy(workflow_id)
    if status is None:
        raise HTTPError(404, "WORKFLOW_NOT_FOUND", f"workflow {workflow_id!r} was never deployed")
    return JSONResponse(status)


@admin
@operation(responses={200: Deployment})
async def deployment_status(request: Request) -> Response:
    """A workflow's deployment status, active triggers and history."""
    workflow_id = path_identifier(request, "workflow_id")
    status = await gateway_of(request).deployments.status(workflow_id)
    if status is None:
        return JSONResponse(
            {"workflow_id": workflow_id, "status": "UNDEPLOYED", "triggers": [], "history": []}
        )
    return JSONResponse(status)


routes = [
    Route("/api/v1/deployment/workflows/{workflow_id}/deploy", deploy, methods=["POST"]),
    Route("/api/v1/deployment/workflows/{workflow_id}/undeploy", undeploy, methods=["POST"]),
    Route("/api/v1/deployment/workflows/{workflow_id}", deployment_status, methods=["GET"]),
]
