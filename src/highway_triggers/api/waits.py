"""Waits as engines register them: ``POST /api/v1/waits``, ``GET``/``DELETE …/{wait_id}``,
and the list of them (``GET /api/v1/waits``)."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.errors import HTTPError
from highway_triggers.api.schemas import Wait, Waits
from highway_triggers.core.http import admin, gateway_of, read_object
from highway_triggers.core.openapi import operation
from highway_triggers.core.paging import LIMIT_SCHEMA, PageRequest
from highway_triggers.core.validation import (
    IDENTIFIER_SCHEMA,
    path_identifier,
    query_choice,
    query_identifier,
    query_text,
)
from highway_triggers.core.waits import STATUSES, TEXT_MAX_LENGTH, WaitRequest


@admin
@operation(body=WaitRequest, responses={200: Wait, 201: Wait}, errors=(409,))
async def register_wait(request: Request) -> Response:
    """Register a run waiting for an event's correlation key or a hook's token.

    201 with the new wait; 200 with the first one when its ``idempotency_key`` was seen
    (even if that wait is closed by now).
    """
    gateway = gateway_of(request)
    wait_request = WaitRequest.parse(await read_object(request))
    wait, created = await gateway.db.write(gateway.waits.register, wait_request)
    gateway.dispatcher.wake()  # an event kept for this wait may have resumed it already
    return JSONResponse(wait, status_code=201 if created else 200)


WAIT_ID = r"^[0-9a-f]{32}$"
"""A wait's id, and so a page's ``next_cursor``."""


@admin
@operation(
    query={
        "limit": LIMIT_SCHEMA,
        "cursor": {"type": "string", "pattern": WAIT_ID},
        "tenant_id": IDENTIFIER_SCHEMA,
        "workflow_run_id": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_LENGTH},
        "status": {"enum": list(STATUSES)},
    },
    responses={200: Waits},
    errors=(400,),
)
async def list_waits(request: Request) -> Response:
    """Waits, newest first, a page at a time (``limit``, ``cursor``); filters ``tenant_id``,
    ``workflow_run_id`` and ``status`` (``open``, ``consumed``, ``expired``, ``cancelled``)."""
    gateway = gateway_of(request)
    page = PageRequest.of(request, WAIT_ID)
    status = query_choice(request, "status", STATUSES)
    run_id = query_text(request, "workflow_run_id")
    rows = await gateway.db.call(
        gateway.waits.page,
        before=page.cursor,
        limit=page.fetch,
        tenant_id=query_identifier(request, "tenant_id"),
        workflow_run_id=run_id,
        status=status,
    )
    return JSONResponse(page.page("waits", rows, "wait_id"))


@admin
@operation(responses={200: Wait}, errors=(404,))
async def get_wait(request: Request) -> Response:
    """The wait and its status: ``open``, ``consumed``, ``expired`` or ``cancelled``."""
    gateway = gateway_of(request)
    return JSONResponse(
        _found(request, await gateway.db.call(gateway.waits.get, _wait_id(request)))
    )


@admin
@operation(responses={200: Wait}, errors=(404,))
async def cancel_wait(request: Request) -> Response:
    """Close an open wait without resuming its run; answers the wait as it now is."""
    gateway = gateway_of(request)
    return JSONResponse(
        _found(request, await gateway.db.write(gateway.waits.cancel, _wait_id(request)))
    )


def _wait_id(request: Request) -> str:
    return path_identifier(request, "wait_id")


def _found(request: Request, wait: dict | None) -> dict:  # type: ignore[type-arg]
    if wait is None:
        raise HTTPError(404, "WAIT_NOT_FOUND", f"no wait {_wait_id(request)!r}")
    return wait


routes = [
    Route("/api/v1/waits", list_waits, methods=["GET"]),
    Route("/api/v1/waits", register_wait, methods=["POST"]),
    Route("/api/v1/waits/{wait_id}", get_wait, methods=["GET"]),
    Route("/api/v1/waits/{wait_id}", cancel_wait, methods=["DELETE"]),
]
