"""Waits as engines register them: ``POST /api/v1/waits``, ``GET``/``DELETE …/{wait_id}``."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin, gateway_of, read_object
from highway_triggers.core.validation import path_identifier
from highway_triggers.core.waits import WaitRequest


@admin
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


@admin
async def get_wait(request: Request) -> Response:
    """The wait and its status: ``open``, ``consumed``, ``expired`` or ``cancelled``."""
    gateway = gateway_of(request)
    return JSONResponse(
        _found(request, await gateway.db.call(gateway.waits.get, _wait_id(request)))
    )


@admin
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
    Route("/api/v1/waits", register_wait, methods=["POST"]),
    Route("/api/v1/waits/{wait_id}", get_wait, methods=["GET"]),
    Route("/api/v1/waits/{wait_id}", cancel_wait, methods=["DELETE"]),
]
