"""The plugin's routes: GitHub's deliveries, and a stored delivery for inspection."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers import BaseTrigger, Event
from highway_triggers.plugin import (
    FORM,
    Accepted,
    DeliveryArchive,
    GatewayContext,
    GitHubAuth,
    HTTPError,
    IngressGuard,
    accepted,
    admit_first,
    check_delivery_id,
    form_payload,
    media_type,
    operation,
    read_object,
)
from highway_triggers_github.config import EVENT_PATTERN
from highway_triggers_github.delivery import (
    correlation_keys,
    repository_name,
    trigger_data,
)
from highway_triggers_github.metrics import GitHubMetrics
from highway_triggers_github.settings import GitHubSettings
from highway_triggers_github.store import delivery_row
from highway_triggers_github.tables import EVENTS
from highway_triggers_github.trigger import SUBTYPE, GitHubTrigger

WEBHOOK_PATH = "/api/v1/github/webhook"
_EVENT = re.compile(EVENT_PATTERN)


class Pong(BaseModel):
    status: str
    message: str
    zen: str | None


class StoredDelivery(BaseModel):
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    repository_id: int | None
    installation_id: int | None
    payload: str
    processed_at: str


class GitHubApi:
    """One gateway's GitHub endpoint: verify, store, route."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self.settings = context.plugin_settings(GitHubSettings)
        self.store = DeliveryArchive(context.database, EVENTS)
        self.metrics = GitHubMetrics(context.metrics)
        shared = self.settings.webhook_secrets
        self._shared = (
            context.guard(GitHubAuth(type="github", secrets=shared), sealed=False)
            if shared
            else None
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route(WEBHOOK_PATH, self.webhook, methods=["POST"]),
            self.store.route(
                "/api/v1/github/deliveries/{delivery_id}",
                name="stored",
                response=StoredDelivery,
                doc="A stored delivery (``github_webhook_events``) with the payload GitHub sent.",
            ),
        ]

    @operation(
        body={},
        body_media_type="*/*",
        responses={200: Pong, 202: Accepted},
        errors=(400, 401, 413),
    )
    async def webhook(self, request: Request) -> Response:
        """A GitHub delivery: ``X-Hub-Signature-256`` verified (the repository's own secret,
        or the gateway-wide one), then stored and routed once per ``X-GitHub-Delivery``.

        401 ``INVALID_SIGNATURE`` before anything is stored; 400 ``MISSING_HEADER`` without
        ``X-GitHub-Event`` or ``X-GitHub-Delivery``; ``ping`` is answered 200 and starts
        nothing; a redelivery is 202 with ``duplicate: true``.
        """
        event, delivery_id = self._headers(request)
        body = await request.body()  # within the gateway's body limit; kept for the guard
        try:
            document, payload = await self._payload(request, body)
        except HTTPError as malformed:  # no repository to find a secret by: the shared one
            await self._verified(request, body, [], delivery_id)  # unsigned: 401, not 400
            self._refused(malformed, delivery_id)
        repository = repository_name(payload)
        index_keys = (repository.lower(),) if repository is not None else ()
        triggers = self._context.triggers.candidates(SUBTYPE, index_keys)
        among = await self._verified(request, body, triggers, delivery_id)
        data = trigger_data(event, delivery_id, payload)
        if event == "ping":
            return await self._pong(data, payload, document)
        result = await self._context.router.route(
            Event(
                subtype=SUBTYPE,
                index_keys=index_keys,
                payload=data,
                idempotency_key=delivery_id,
                correlation_keys=correlation_keys(event, payload),
            ),
            among=among,
            claim=self.store.claim(delivery_row(data, document)),
        )
        self.metrics.routed(event, result)
        return accepted(result)

    async def _payload(self, request: Request, body: bytes) -> tuple[bytes, dict[str, Any]]:
        """The delivery's JSON object and the document it came as: the body, or the
        ``payload`` field of a body GitHub encoded as a form (a webhook whose content type
        is ``application/x-www-form-urlencoded``, GitHub's default)."""
        if media_type(request.headers.get("content-type")) == FORM:
            return form_payload(body, self._context.settings.max_json_depth)
        return body, await read_object(request)

    def _headers(self, request: Request) -> tuple[str, str]:
        """``X-GitHub-Event`` and ``X-GitHub-Delivery``, both required."""
        try:
            header = request.headers.get("x-github-delivery")
            delivery_id = check_delivery_id(header, "X-GitHub-Delivery")
        except HTTPError as error:
            self._refused(error)
        if delivery_id is None:
            self._refused(HTTPError(400, "MISSING_HEADER", "X-GitHub-Delivery is required"))
        event = request.headers.get("x-github-event", "")
        if not event:
            missing = HTTPError(400, "MISSING_HEADER", "X-GitHub-Event is required")
            self._refused(missing, delivery_id)
        if not _EVENT.fullmatch(event):
            invalid = HTTPError(400, "INVALID_EVENT", "X-GitHub-Event: not an event name")
            self._refused(invalid, delivery_id)
        return event, delivery_id

    async def _verified(
        self, request: Request, body: bytes, triggers: list[BaseTrigger], delivery_id: str
    ) -> list[BaseTrigger]:
        """The triggers whose secret signed the delivery: the one whose own secret verified
        it, or every one without a secret of its own (the gateway-wide secret verified it).

        Each repository trigger with a secret of its own is tried, then the gateway-wide
        secret; a delivery none verifies is 401 (logged as refused).
        """
        own = [(t, t.guard) for t in triggers if isinstance(t, GitHubTrigger) and t.guard]
        shared = [t for t in triggers if isinstance(t, GitHubTrigger) and t.guard is None]
        candidates: list[tuple[BaseTrigger | None, IngressGuard]] = list(own)
        if self._shared is not None:
            candidates.append((shared[0] if shared else None, self._shared))
        if not candidates:
            self._refused(
                HTTPError(
                    401,
                    "INVALID_SIGNATURE",
                    "no secret verifies this delivery: no GITHUB trigger with a secret for its "
                    "repository, and HIGHWAY_GITHUB_WEBHOOK_SECRET is not set",
                ),
                delivery_id,
            )
        try:
            admitted, _ = await admit_first(
                request,
                self._context.trusted_proxies,
                candidates,
                source=SUBTYPE,
                delivery_id=delivery_id,
                body=body,
            )
        except HTTPError as error:  # logged by the guard
            self.metrics.refused(error.code)
            raise
        if admitted is not None and any(admitted is t for t, _ in own):
            return [admitted]
        return list(shared)

    async def _pong(
        self, data: dict[str, Any], payload: dict[str, Any], document: bytes
    ) -> Response:
        """A ``ping`` (a hook was set up): stored and answered, starts nothing."""
        await self.store.add(delivery_row(data, document))
        hook = payload.get("hook_id")
        self._context.router.missed(
            SUBTYPE,
            f"ping of hook {hook}: answered, starts nothing",
            delivery_id=data["delivery_id"],
        )
        self.metrics.pinged()
        zen = payload.get("zen")
        return JSONResponse(
            {"status": "ok", "message": "pong", "zen": zen if isinstance(zen, str) else None}
        )

    def _refused(self, error: HTTPError, delivery_id: str | None = None) -> NoReturn:
        """Log a delivery refused before routing, and answer it with ``error``."""
        self._context.router.refused(SUBTYPE, error, delivery_id=delivery_id)
        self.metrics.refused(error.code)
        raise error
