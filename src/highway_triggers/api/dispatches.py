"""The outbox as users see it: list dispatches a page at a time, retry failed or dead ones."""

import asyncio
import re
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import Dispatches, DispatchRetried, Retried
from highway_triggers.core.dispatches import list_dispatches, retry, retry_many
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of, read_object
from highway_triggers.core.openapi import operation
from highway_triggers.core.paging import LIMIT_SCHEMA, PageRequest
from highway_triggers.core.validation import (
    IDENTIFIER_SCHEMA,
    RequestBody,
    query_choice,
    query_identifier,
)
from highway_triggers.db.driver import DriverSQL
from highway_triggers.db.tables import (
    DEAD,
    DELIVERED,
    DELIVERING,
    FAILED,
    PENDING,
    RETRYABLE,
    SKIPPED,
)

MAX_RETRY = 10_000
STATUSES = (PENDING, DELIVERING, DELIVERED, FAILED, DEAD, SKIPPED)
DISPATCH_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
"""A dispatch's id, and so a page's ``next_cursor`` (the id of its last, oldest, dispatch)."""
_DISPATCH_ID = re.compile(DISPATCH_ID["pattern"])
QUERY: dict[str, dict[str, Any]] = {
    "limit": LIMIT_SCHEMA,
    "cursor": DISPATCH_ID,
    "status": {"enum": list(STATUSES)},
    "workflow_id": IDENTIFIER_SCHEMA,
}


class _RowsResponse(JSONResponse):
    """JSON whatever the rows hold: orjson, or escaped ASCII for what it refuses (lone
    surrogates, integers past 64 bits), where Starlette's encoder would fail."""

    def render(self, content: Any) -> bytes:
        return DriverSQL.json(content).encode()


@admin
@operation(query=QUERY, responses={200: Dispatches}, errors=(400,))
async def dispatches(request: Request) -> Response:
    """Dispatches, newest first, a page at a time.

    ``limit`` (1–1000, default 100), ``cursor`` (the previous page's ``next_cursor``, which
    is ``null`` on the last page); filters ``status``, ``workflow_id``.
    """
    page = PageRequest.of(request, DISPATCH_ID["pattern"])
    status = query_choice(request, "status", STATUSES)
    rows = await asyncio.to_thread(
        list_dispatches,
        gateway_of(request).db,
        status,
        query_identifier(request, "workflow_id"),
        page.fetch,
        before=page.cursor,
    )
    return _RowsResponse(page.page("dispatches", rows, "dispatch_id"))


@admin
@operation(path={"dispatch_id": DISPATCH_ID}, responses={202: DispatchRetried}, errors=(404, 409))
async def retry_dispatch(request: Request) -> Response:
    """Deliver a failed, dead or skipped dispatch again, with a fresh set of attempts."""
    gateway = gateway_of(request)
    dispatch_id = request.path_params["dispatch_id"]
    is_id = _DISPATCH_ID.fullmatch(dispatch_id) is not None
    previous = await gateway.db.write(retry, gateway.db, dispatch_id) if is_id else None
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


class BulkRetry(RequestBody):
    """Which dispatches ``POST /api/v1/dispatches/retry`` queues again."""

    status: Literal["failed", "dead", "skipped"]
    workflow_id: str | None = Field(default=None, min_length=1)
    limit: int = Field(default=MAX_RETRY, ge=1, le=MAX_RETRY)


@admin
@operation(body=BulkRetry, responses={202: Retried})
async def retry_dispatches(request: Request) -> Response:
    """Deliver again every dispatch with a status, with fresh sets of attempts.

    Body ``{"status": "dead" | "failed" | "skipped", "workflow_id"?, "limit"?}``; at most
    ``limit`` (default and most 10,000) of them, oldest first → ``{"retried": n}``. While
    ``n`` equals the limit, more may be left: call again.
    """
    body = BulkRetry.parse(await read_object(request))
    gateway = gateway_of(request)
    retried = await gateway.db.write(
        retry_many, gateway.db, body.status, workflow_id=body.workflow_id, limit=body.limit
    )
    if retried:
        gateway.dispatcher.wake()
    return JSONResponse({"retried": retried}, status_code=202)


routes = [
    Route("/api/v1/dispatches", dispatches, methods=["GET"]),
    Route("/api/v1/dispatches/retry", retry_dispatches, methods=["POST"]),
    Route("/api/v1/dispatches/{dispatch_id}/retry", retry_dispatch, methods=["POST"]),
]
