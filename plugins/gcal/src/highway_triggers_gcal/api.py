"""The plugin's route: Google's push notifications of a channel's calendar."""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from highway_triggers.plugin import HTTPError, context_of, operation
from highway_triggers_gcal.poller import NOTIFICATIONS, SUBTYPE, token_hash
from highway_triggers_gcal.service import service_of

log = logging.getLogger(__name__)
MAX_CHANNEL_ID = 256


@operation(responses={200: None}, errors=(401, 404))
async def notification(request: Request) -> Response:
    """A push notification: ``X-Goog-Channel-ID`` must name an open channel and
    ``X-Goog-Channel-Token`` be its token (401 otherwise; 404 for an unknown channel). The
    ``sync`` handshake is answered and nothing else; any other state syncs the channel's
    trigger at once."""
    context = context_of(request)
    service = service_of(context)
    channel_id = request.headers.get("x-goog-channel-id", "")
    message_id = request.headers.get("x-goog-message-number")
    delivery_id = f"{channel_id[:64]}:{message_id[:20]}" if message_id and channel_id else None
    found = None
    if 0 < len(channel_id) <= MAX_CHANNEL_ID and channel_id.isprintable():
        found = await service.store.channel(channel_id)
    if found is None:
        error = HTTPError(404, "UNKNOWN_CHANNEL", "no open channel has this X-Goog-Channel-ID")
        context.router.refused(SUBTYPE, error, delivery_id=delivery_id)
        log.warning("calendar notification refused: unknown channel")
        raise error
    poller = service.pollers.get(found.trigger_id)
    given = token_hash(request.headers.get("x-goog-channel-token", ""))
    if not hmac.compare_digest(given, found.token_hash):
        error = HTTPError(401, "INVALID_CHANNEL_TOKEN", "X-Goog-Channel-Token is not the channel's")
        triggers = [poller.trigger] if poller is not None else []
        context.router.refused(SUBTYPE, error, triggers=triggers, delivery_id=delivery_id)
        log.warning("calendar notification refused: bad token for channel %s", channel_id)
        raise error
    if request.headers.get("x-goog-resource-state") != "sync":
        service.poke(found.trigger_id)
    return Response(status_code=200)


routes: list[BaseRoute] = [Route(NOTIFICATIONS, notification, methods=["POST"])]
