"""The outbox as users see it: list dispatches, retry a failed or dead one."""

import asyncio
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.dispatcher import RETRYABLE, retry
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of
from highway_triggers.core.outbox import DISPATCHES as D
from highway_triggers.db.database import Database

MAX_LIMIT = 1000


def list_dispatches(
    db: Database, status: str | None = None, workflow_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest first; shared by the API and the CLI."""
    query = select(D).order_by(D.c.id.desc()).limit(limit)  # ids grow with time
    if status:
        query = query.where(D.c.status == status)
    if workflow_id:
        query = query.where(D.c.workflow_id == workflow_id)
    with db.engine.connect() as conn:
        return [_view(row) for row in conn.execute(query).mappings()]


def _view(row: Any) -> dict[str, Any]:
    view = {k: row[k] for k in D.c.keys() if k not in ("locked_until",)}
    for key in ("next_attempt_at", "created_at", "updated_at", "delivered_at"):
        view[key] = row[key].isoformat() if row[key] else None
    view["dispatch_id"] = view.pop("id")
    return view


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
