"""The plugin's routes: public webhooks, per-run webhook registrations and
receivers, and the answers runs post for held requests."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers import Event, RouteResult
from highway_triggers.plugin import (
    Admitted,
    AuthObject,
    GatewayContext,
    HTTPError,
    accepted,
    admin,
    operation,
    read_object,
    utcnow,
)
from highway_triggers_webhook.held import REQUEST_ID, HeldRequests
from highway_triggers_webhook.options import Answer, WebhookOptions
from highway_triggers_webhook.registrations import (
    WEBHOOK_ID,
    RegistrationRequest,
    RegistrationStore,
    WebhookRegistration,
)
from highway_triggers_webhook.trigger import (
    METHODS,
    PATH_MAX_LENGTH,
    PATH_PATTERN,
    PATH_RULE,
    SUBTYPE,
    WebhookConfig,
    WebhookTrigger,
    is_webhook_path,
)

RUN_SUBTYPE = "WEBHOOK_RUN"
"""Events of per-run webhooks: they resume their run's wait and start nothing."""
Deliver = Callable[[dict[str, Any]], Awaitable[RouteResult]]
MAX_DELIVERY_ID = 200
"""Longer delivery ids are keyed by their SHA-256: database indexes hold keys of ~2.7 KB."""


class Answered(BaseModel):
    status: str
    request_id: str


class WebhookApi:
    """One gateway's webhook endpoints and the requests they hold open."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self.held = HeldRequests(context)
        self.registrations = RegistrationStore(context)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/public/webhook/{path:path}", self.public_webhook, methods=list(METHODS)),
            Route("/api/v1/webhook-registrations", admin(self.register), methods=["POST"]),
            Route("/api/v1/webhooks/{webhook_id}", self.run_webhook, methods=["POST"]),
            Route("/api/v1/webhook-responses/{request_id}", admin(self.respond), methods=["POST"]),
        ]

    @operation(
        body={},
        body_media_type="*/*",
        path={"path": {"type": "string", "maxLength": PATH_MAX_LENGTH, "pattern": PATH_PATTERN}},
        responses={"default": {}},
        media_type="*/*",
        errors=(400, 401, 404, 405, 413),
    )
    async def public_webhook(self, request: Request) -> Response:
        """Start the workflow of the WEBHOOK trigger deployed at this path (a path where
        none is, or a request its checks refuse, is in the delivery log all the same).

        The trigger's checks come first (405 with ``Allow``, 401 ``IP_NOT_ALLOWED``,
        413, 401 ``INVALID_SIGNATURE`` / ``TIMESTAMP_OUT_OF_RANGE`` /
        ``INVALID_CREDENTIALS``), then the captured request is routed; the answer is the
        trigger's ``response``.
        """
        path = str(request.path_params["path"]).strip("/")
        if not is_webhook_path(path):  # no webhook can be deployed there
            raise HTTPError(400, "INVALID_PATH", f"path: {PATH_RULE}")
        found = self._context.triggers.candidates(SUBTYPE, (path,))
        if not found:
            self._context.router.missed(SUBTYPE, f"no {SUBTYPE} trigger at path {path!r}")
            raise HTTPError(404, "WEBHOOK_NOT_FOUND", f"no webhook is deployed at {path!r}")
        trigger = cast(WebhookTrigger, found[0])
        config = cast(WebhookConfig, trigger.config)
        if request.method not in config.allowed_methods:
            allow = ", ".join(config.allowed_methods)
            raise HTTPError(
                405, "METHOD_NOT_ALLOWED", f"this webhook takes {allow}", headers={"Allow": allow}
            )
        admitted = await trigger.guard.admit(
            request, self._context.trusted_proxies, trigger=trigger
        )
        key = _dedup_key(request, admitted, config, config.auth, path)

        async def start(payload: dict[str, Any]) -> RouteResult:
            return await trigger.fire(
                payload, idempotency_key=key, dedup_window_seconds=config.dedup_retention_seconds
            )

        return await self._deliver({**admitted.data, "webhook_path": path}, config, start)

    @operation(
        body=RegistrationRequest,
        responses={200: WebhookRegistration, 201: WebhookRegistration},
        errors=(404, 409),
    )
    async def register(self, request: Request) -> Response:
        """Register a per-run webhook for a suspended run; ``{"webhook_id", "url", …}``.

        201 for a new one; 200 with the first one for an ``idempotency_key`` seen before.
        """
        registration = RegistrationRequest.parse(await read_object(request))
        view, created = await self._context.database.write(
            self.registrations.register, registration
        )
        return JSONResponse(view, status_code=201 if created else 200)

    @operation(
        body={},
        body_media_type="*/*",
        path={"webhook_id": WEBHOOK_ID},
        responses={"default": {}},
        media_type="*/*",
        errors=(400, 401, 404, 410, 413),
    )
    async def run_webhook(self, request: Request) -> Response:
        """Resume the run this per-run webhook was registered for, once its checks pass.

        404 ``WEBHOOK_NOT_FOUND``; 410 ``WEBHOOK_EXPIRED`` or ``WEBHOOK_CONSUMED`` (a
        single-use webhook that resumed its run already, or whose wait was cancelled).
        """
        webhook_id: str = request.path_params["webhook_id"]
        registration = await self.registrations.find(webhook_id)
        if registration is None:
            raise HTTPError(404, "WEBHOOK_NOT_FOUND", f"no webhook {webhook_id!r}")
        if registration.expires_at is not None and registration.expires_at <= utcnow():
            raise HTTPError(410, "WEBHOOK_EXPIRED", f"webhook {webhook_id!r} has expired")
        admitted = await registration.guard.admit(
            request, self._context.trusted_proxies, source=RUN_SUBTYPE
        )
        key = _dedup_key(request, admitted, registration.options, registration.auth, webhook_id)

        async def resume(payload: dict[str, Any]) -> RouteResult:
            event = Event(
                subtype=RUN_SUBTYPE,
                index_keys=(),
                payload=payload,
                idempotency_key=key,
                correlation_keys=(registration.token,),
                dedup_window_seconds=registration.options.dedup_retention_seconds,
            )
            result = await self._context.router.route(
                event, tokens_only=True, wait_owner=registration.wait_owner
            )
            if not result.duplicate and result.delivered_to == 0:
                raise HTTPError(410, "WEBHOOK_CONSUMED", f"webhook {webhook_id!r} was used already")
            return result

        data = {**admitted.data, "webhook_id": webhook_id}
        return await self._deliver(data, registration.options, resume)

    @operation(
        body=Answer,
        path={"request_id": REQUEST_ID},
        responses={200: Answered},
        errors=(404, 409, 410),
    )
    async def respond(self, request: Request) -> Response:
        """Answer a held webhook request (``response: wait``): ``{"status", "headers", "body"}``.

        404 ``REQUEST_NOT_FOUND``; 409 ``ALREADY_ANSWERED``; 410 ``REQUEST_NOT_HELD`` when
        the request was answered 202 on timeout.
        """
        request_id: str = request.path_params["request_id"]
        await self.held.answer(request_id, Answer.parse(await read_object(request)))
        return JSONResponse({"status": "answered", "request_id": request_id})

    async def _deliver(
        self, data: dict[str, Any], options: WebhookOptions, deliver: Deliver
    ) -> Response:
        """Route the captured request (with a new ``request_id``) and answer it as configured."""
        request_id = str(uuid.uuid4())
        payload = {**data, "request_id": request_id}
        if options.response != "wait":
            result = await deliver(payload)
            return (
                options.response.to_response()
                if isinstance(options.response, Answer)
                else accepted(result)
            )
        await self.held.hold(request_id, options.response_timeout_seconds)
        try:
            result = await deliver(payload)
            answer = None if result.duplicate else await self.held.answer_of(request_id)
        finally:
            self.held.release(request_id)
        return accepted(result) if answer is None else answer.to_response()


def _dedup_key(
    request: Request, admitted: Admitted, options: WebhookOptions, auth: AuthObject, scope: str
) -> str | None:
    """The admitted request's delivery id, scoped to one webhook; ``None``: no dedup."""
    data = admitted.data
    body = data["body"] if data["body_encoding"] == "json" else None
    value = options.delivery_id(auth, request.headers, body)
    if value is None:
        return None
    if len(value) > MAX_DELIVERY_ID:
        value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return f"{scope}:{value}"
