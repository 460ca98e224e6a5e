"""The delivery log as users see it: what came in and what became of it, a page at a time
(``GET /api/v1/deliveries``), or one event (``GET /api/v1/deliveries/{event_id}``)."""

import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.api.schemas import Deliveries, Delivery
from highway_triggers.core.delivery_log import OUTCOMES, get_delivery, list_deliveries
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of
from highway_triggers.core.openapi import operation
from highway_triggers.core.paging import LIMIT_SCHEMA, PageRequest
from highway_triggers.core.validation import IDENTIFIER_SCHEMA, query_choice, query_identifier

EVENT_ID: dict[str, Any] = {
    "type": "string",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
}
"""An event's id, and so a page's ``next_cursor`` (the id of its last, oldest, event)."""
_EVENT_ID = re.compile(EVENT_ID["pattern"])
MOMENT: dict[str, Any] = {"type": "string", "format": "date-time"}
QUERY: dict[str, dict[str, Any]] = {
    "limit": LIMIT_SCHEMA,
    "cursor": EVENT_ID,
    "source": IDENTIFIER_SCHEMA,
    "outcome": {"enum": list(OUTCOMES)},
    "tenant_id": IDENTIFIER_SCHEMA,
    "workflow_id": IDENTIFIER_SCHEMA,
    "trigger_id": IDENTIFIER_SCHEMA,
    "since": MOMENT,
    "until": MOMENT,
}


@admin
@operation(query=QUERY, responses={200: Deliveries}, errors=(400,))
async def deliveries(request: Request) -> Response:
    """Events received, newest first, a page at a time, and what became of each.

    ``limit`` (1–1000, default 100), ``cursor`` (the previous page's ``next_cursor``);
    filters ``source`` (the event's subtype: ``EVENT``, ``WEBHOOK`` …), ``outcome``,
    ``tenant_id``, ``workflow_id`` and ``trigger_id`` (a trigger or workflow the event
    started, resumed or was declined by), ``since`` (inclusive) and ``until`` (exclusive),
    ISO 8601 times (UTC unless they name an offset).
    """
    page = PageRequest.of(request, EVENT_ID["pattern"])
    outcome = query_choice(request, "outcome", OUTCOMES)
    gateway = gateway_of(request)
    rows = await gateway.db.call(
        list_deliveries,
        gateway.db,
        limit=page.fetch,
        before=page.cursor,
        source=query_identifier(request, "source"),
        outcome=outcome,
        tenant_id=query_identifier(request, "tenant_id"),
        workflow_id=query_identifier(request, "workflow_id"),
        trigger_id=query_identifier(request, "trigger_id"),
        since=_moment(request, "since"),
        until=_moment(request, "until"),
    )
    return JSONResponse(page.page("deliveries", rows, "event_id"))


@admin
@operation(path={"event_id": EVENT_ID}, responses={200: Delivery}, errors=(404,))
async def delivery(request: Request) -> Response:
    """One event and what became of it (a duplicate's answer names its original)."""
    gateway = gateway_of(request)
    event_id = request.path_params["event_id"]
    found = None
    if _EVENT_ID.fullmatch(event_id) is not None:
        found = await gateway.db.call(get_delivery, gateway.db, event_id)
    if found is None:
        raise HTTPError(404, "DELIVERY_NOT_FOUND", f"no delivery {event_id!r}")
    return JSONResponse(found)


def _moment(request: Request, name: str) -> datetime | None:
    """The query parameter ``name`` as an aware datetime; 400 ``INVALID_PARAMETER``
    unless it is an ISO 8601 time."""
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPError(
            400, "INVALID_PARAMETER", f"{name} must be an ISO 8601 time (2026-01-31T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


routes = [
    Route("/api/v1/deliveries", deliveries, methods=["GET"]),
    Route("/api/v1/deliveries/{event_id}", delivery, methods=["GET"]),
]
