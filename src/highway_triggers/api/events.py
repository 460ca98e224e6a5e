"""Event injection: ``POST /api/v1/events/{tenant_id}`` with the tenant's JWT.

Resumes the tenant's waits on ``correlation_key`` (phase 0) and starts every matching
``EVENT`` trigger (phases 1 and 2).
"""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from highway_triggers.api.schemas import EventBody
from highway_triggers.core.auth import bearer_token
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import accepted, gateway_of, read_object
from highway_triggers.core.openapi import Accepted, operation
from highway_triggers.core.router import EVENT_SUBTYPE
from highway_triggers.core.validation import idempotency_key, is_text, path_identifier
from highway_triggers.core.waits import TEXT_MAX_LENGTH


@operation(
    body=EventBody,
    responses={202: Accepted},
    errors=(404, 429),
    security="admin_or_tenant",
    idempotency_key=True,
)
async def inject_event(request: Request) -> Response:
    """``{"event_name", "correlation_key"?, "payload"}``; 404 when nothing took it.

    Past the tenant's rate (a token bucket, checked before anything is written): 429
    ``RATE_LIMITED`` with ``Retry-After``.

    An ``Idempotency-Key`` header makes a repeated delivery harmless. The tenant's JWT
    or an admin token (the engine posting system events) may send.
    """
    gateway = gateway_of(request)
    tenant_id = path_identifier(request, "tenant_id")
    key = idempotency_key(request)
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise HTTPError(401, "UNAUTHORIZED", "a tenant JWT or an admin token is required")
        await gateway.auth.may_send_events(token, tenant_id)
        gateway.event_limits.check(tenant_id, *await gateway.auth.tenant_limits(tenant_id))
    except HTTPError as refused:  # in the delivery log, as a refusal at the door
        gateway.router.refused(EVENT_SUBTYPE, refused, tenant_id=tenant_id)
        raise
    body = await read_object(request)
    event_name, correlation_key = body.get("event_name"), body.get("correlation_key")
    payload = body.get("payload", {})
    if not is_text(event_name, TEXT_MAX_LENGTH):
        raise _malformed("event_name", "required string")
    if correlation_key is not None and not is_text(correlation_key, TEXT_MAX_LENGTH):
        raise _malformed("correlation_key", "a string")
    if not isinstance(payload, dict):
        raise HTTPError(400, "MALFORMED_BODY", "payload: must be a JSON object")
    result = await gateway.router.emit(
        event_name,
        payload,
        tenant_id=tenant_id,
        correlation_key=correlation_key,
        idempotency_key=key,
    )
    if not result.duplicate and result.delivered_to == 0:
        message = f"no waiting run or EVENT trigger took {event_name!r}"
        if result.held:
            lookback = gateway.settings.early_event_lookback_seconds
            message += f"; it is kept for {lookback:g} s for a wait registered in that time"
        raise HTTPError(404, "NO_WAITING_WORKFLOW", message)
    return accepted(result)


def _malformed(field: str, what: str) -> HTTPError:
    rule = f"{what} of 1 to {TEXT_MAX_LENGTH} characters, no control characters"
    return HTTPError(400, "MALFORMED_BODY", f"{field}: {rule}")


routes = [Route("/api/v1/events/{tenant_id}", inject_event, methods=["POST"])]
