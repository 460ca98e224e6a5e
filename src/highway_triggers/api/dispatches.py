"""The outbox as users see it: list dispatches, retry a failed or dead one."""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.dispatches import list_dispatches, retry
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of
from highway_triggers.db.tables import RETRYABLE

MAX_LIMIT = 1000


@admin
async def dispatches(request: Request) -> Response:
    """Dispatches, newest first; filters ``status``, ``workflow_id``, ``limit``."""
    params = request.query_params
    try:
        limit = min(MAX_LIMIT, max(1, int(params.get("limit", "100"))))
    except ValueError:
        raise HTTPError(400, "INVALID_PARAMETER", "limit must be an integer") from None
    rows = await asyncio.to_thread(
        list_dispatches,
        gateway_of(request).db,
        params.get("status"),
        params.get("workflow_id"),
        limit,
    )
    return JSONResponse({"dispatches": rows, "count": len(rows)})


@admin
async def retry_dispatch(request: Request) -> Response:
    """Deliver a failed, dead or skipped dispatch again, with a fresh set of attempts."""
    gateway = gateway_of(request)
    dispatch_id = request.path_params["dispatch_id"]
    previous = await gateway.db.write(retry, gateway.db, dispatch_id)
    if previous is None:
        raise HTTPError(404, "DISPATCH_NOT_FOUND", f"no dispatch {dispatch_id!r}")
    if previous not in RETRYABLE:
        raise HTTPError(
            409,
            "NOT_RETRYABLE",
            f"dispatch is {previous}; only {', '.join(RETRYABLE)} can be retried",
        )
    gateway.dispatcher.wake()
    return JSONResponse(
        {"dispatch_id": dispatch_id, "status": "pending", "previous_status": previous},
        status_code=202,
    )


routes = [
    Route("/api/v1/dispatches", dispatches, methods=["GET"]),
    Route("/api/v1/dispatches/{dispatch_id}/retry", retry_dispatch, methods=["POST"]),
]
