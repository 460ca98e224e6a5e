"""Hooks: ``POST /api/v1/hooks/{token}`` resumes the runs waiting on a token.

The token is the credential: whoever knows it may resume the runs waiting on it, so
it matches waits' tokens only, never their correlation keys. A multi-use wait receives
every payload, in the order they arrive, until it is cancelled or expires.
"""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.event import Event
from highway_triggers.core.http import accepted, gateway_of, read_object
from highway_triggers.core.openapi import Accepted, operation
from highway_triggers.core.validation import idempotency_key
from highway_triggers.core.waits import TOKEN_MAX_LENGTH, TOKEN_PATTERN, is_token

HOOK = "HOOK"


@operation(
    body={"type": "object"},
    path={"token": {"type": "string", "pattern": TOKEN_PATTERN}},
    responses={202: Accepted},
    errors=(400, 404),
    idempotency_key=True,
)
async def receive_hook(request: Request) -> Response:
    """Resume the runs waiting on this token, with the body (a JSON object) as payload.

    404 ``NO_WAITING_WORKFLOW`` when nothing waits on the token. An ``Idempotency-Key``
    header makes a repeated delivery harmless.
    """
    token = request.path_params["token"]
    if not is_token(token):
        raise HTTPError(
            400,
            "INVALID_TOKEN",
            f"token: 1 to {TOKEN_MAX_LENGTH} characters, no /, whitespace or control characters",
        )
    key = idempotency_key(request)
    payload = await read_object(request)
    result = await gateway_of(request).router.route(
        Event(
            subtype=HOOK,
            index_keys=(),
            payload=payload,
            idempotency_key=f"{token}:{key}" if key else None,  # keys are per token
            correlation_keys=(token,),
        ),
        tokens_only=True,
    )
    if not result.duplicate and result.delivered_to == 0:
        raise HTTPError(404, "NO_WAITING_WORKFLOW", "no run is waiting on this token")
    return accepted(result)


routes = [Route("/api/v1/hooks/{token}", receive_hook, methods=["POST"])]
