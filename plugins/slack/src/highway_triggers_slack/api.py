"""The plugin's routes: Slack's Events API, interactivity (button clicks answering prompts
among them) and slash commands, prompts, and a stored request for inspection."""

from __future__ import annotations

from typing import Any, Literal, NoReturn

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers import BaseTrigger, Event, RouteResult
from highway_triggers.plugin import (
    Accepted,
    Claim,
    DeliveryArchive,
    GatewayContext,
    HTTPError,
    IngressGuard,
    SlackAuth,
    accepted,
    admit_first,
    check_delivery_id,
    form_fields,
    form_payload,
    operation,
    read_object,
)
from highway_triggers_slack.delivery import (
    action_keys,
    as_text,
    command_data,
    derived_id,
    event_data,
    interaction_data,
    thread_keys,
)
from highway_triggers_slack.metrics import SlackMetrics
from highway_triggers_slack.prompt_api import PromptApi
from highway_triggers_slack.prompt_store import PromptStore
from highway_triggers_slack.prompts import OWNER, prompt_answer
from highway_triggers_slack.settings import SlackSettings
from highway_triggers_slack.store import request_row
from highway_triggers_slack.tables import EVENTS
from highway_triggers_slack.trigger import SUBTYPE, SlackTrigger, keys_of

EVENTS_PATH = "/api/v1/slack/events"
INTERACTIONS_PATH = "/api/v1/slack/interactions"
COMMANDS_PATH = "/api/v1/slack/commands"


class Challenge(BaseModel):
    """The answer to ``url_verification``."""

    challenge: str


class Noted(BaseModel):
    """The answer to a verified request that is no event (``app_rate_limited``)."""

    status: Literal["ok"]
    message: str


class CommandAnswer(BaseModel):
    """A slash command's answer: Slack shows ``text`` to the user who typed it."""

    response_type: Literal["ephemeral"]
    text: str


class StoredRequest(BaseModel):
    delivery_id: str
    kind: str
    type: str | None
    team_id: str | None
    channel_id: str | None
    user_id: str | None
    retry_num: int | None
    payload: str
    processed_at: str


EVENT_ANSWER = {
    "anyOf": [model.model_json_schema() for model in (Accepted, Challenge, Noted)],
}


class SlackApi:
    """One gateway's Slack endpoints: verify, store, route, answer 200."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self.settings = context.plugin_settings(SlackSettings)
        self.store = DeliveryArchive(context.database, EVENTS, noun="Slack request")
        self.prompts = PromptStore(context)
        self.metrics = SlackMetrics(context.metrics)
        self._prompt_api = PromptApi(context, self.settings, self.prompts, self.metrics)
        shared = self.settings.signing_secrets
        self._shared = (
            context.guard(SlackAuth(type="slack", signing_secrets=shared), sealed=False)
            if shared
            else None
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route(EVENTS_PATH, self.events, methods=["POST"]),
            Route(INTERACTIONS_PATH, self.interactions, methods=["POST"]),
            Route(COMMANDS_PATH, self.commands, methods=["POST"]),
            self.store.route(
                "/api/v1/slack/deliveries/{delivery_id}",
                name="stored_request",
                response=StoredRequest,
                doc="A stored request (``slack_events``) with the body Slack sent.",
            ),
            *self._prompt_api.routes(),
        ]

    @operation(
        body={}, body_media_type="*/*", responses={200: EVENT_ANSWER}, errors=(400, 401, 413)
    )
    async def events(self, request: Request) -> Response:
        """An Events API request: ``X-Slack-Signature`` verified, ``url_verification``
        answered with its challenge, an ``event_callback`` stored and routed once per
        ``event_id`` (a retry, ``X-Slack-Retry-Num``, is a duplicate) and answered 200.

        401 before anything is stored; 400 for a body that is not a JSON object, or an
        ``event_callback`` without a valid ``event_id``.
        """
        body = await request.body()  # within the gateway's body limit; kept for the guards
        try:
            payload = await read_object(request)
        except HTTPError as malformed:  # no workspace to find a secret by: every secret
            await self._verified(request, body, None, None)  # unsigned: 401, not 400
            self._refused(malformed)
        kind, team = as_text(payload.get("type")), as_text(payload.get("team_id"))
        event_id = as_text(payload.get("event_id"))
        among = await self._verified(request, body, team, _valid(event_id))
        if kind == "url_verification":
            return self._challenge(payload)
        if kind != "event_callback":
            return self._noted(kind)
        if event_id is None:
            self._refused(HTTPError(400, "MISSING_FIELD", "an event_callback needs its event_id"))
        self._checked(event_id, "event_id")
        data = event_data(payload, event_id)
        result = await self._route(data, thread_keys(data), among, body, _retry_num(request))
        return _acknowledged(result)

    @operation(body={}, body_media_type="*/*", responses={200: None}, errors=(400, 401, 413))
    async def interactions(self, request: Request) -> Response:
        """An interactivity request (a form whose ``payload`` is the JSON): verified, stored,
        routed once per ``trigger_id`` (see the README) and answered 200 without a body. A
        ``block_actions`` click resumes the run waiting on an action's ``value`` or
        ``block_id``; a click on a prompt's button, the prompt's run, once: a later click
        is refused (logged, still answered 200)."""
        body = await request.body()
        if (checked := self._ssl_check(body)) is not None:
            return checked
        try:
            _, payload = form_payload(body, self._context.settings.max_json_depth)
        except HTTPError as malformed:
            await self._verified(request, body, None, None)
            self._refused(malformed)
        delivery_id = derived_id(payload, body)
        data = interaction_data(payload, delivery_id)
        among = await self._verified(request, body, data["team"], _valid(delivery_id))
        self._checked(delivery_id, "trigger_id")
        if (answer := prompt_answer(data)) is None:
            await self._route(data, action_keys(data), among, body, None)
        else:
            await self._answer_prompt(data, answer, among, body)
        return Response(status_code=200)

    @operation(
        body={}, body_media_type="*/*", responses={200: CommandAnswer}, errors=(400, 401, 413)
    )
    async def commands(self, request: Request) -> Response:
        """A slash command (a form: ``command``, ``text``, ``user_id``, ``channel_id``,
        ``team_id`` …), posted to the command's Request URL: verified, stored, routed once
        per ``trigger_id``, answered 200 with a message only its user sees."""
        body = await request.body()
        if (checked := self._ssl_check(body)) is not None:
            return checked
        try:
            fields = form_fields(body)
        except HTTPError as malformed:
            await self._verified(request, body, None, None)
            self._refused(malformed)
        delivery_id = derived_id(fields, body)
        data = command_data(fields, delivery_id)
        among = await self._verified(request, body, data["team"], _valid(delivery_id))
        self._checked(delivery_id, "trigger_id")
        if data["command"] is None:
            missing = HTTPError(400, "MISSING_FIELD", "a slash command needs its command")
            self._refused(missing, delivery_id)
        result = await self._route(data, (), among, body, None)
        if result.duplicate:
            text = f"{data['command']}: already received"
        else:
            text = f"{data['command']}: started {result.started} run(s), resumed {result.resumed}"
        return JSONResponse({"response_type": "ephemeral", "text": text})

    async def _route(
        self,
        data: dict[str, Any],
        correlation_keys: tuple[str, ...],
        among: list[BaseTrigger],
        body: bytes,
        retry_num: int | None,
        answering: Claim | None = None,
    ) -> RouteResult:
        """Store and route one verified request; committed when this returns. ``answering``:
        the click answers a prompt, whose claim comes first and whose wait alone it
        resumes (``correlation_keys`` holds the prompt's token)."""
        team = data["team"]
        stored = self.store.claim(request_row(data, body, retry_num))
        result = await self._context.router.route(
            Event(
                subtype=SUBTYPE,
                index_keys=(team,) if team else (),
                payload=data,
                idempotency_key=data["delivery_id"],
                correlation_keys=correlation_keys,
            ),
            among=among,
            claim=stored if answering is None else _both(answering, stored),
            wait_owner=None if answering is None else OWNER,
            tokens_only=answering is not None,
        )
        if not result.refused:
            self.metrics.routed(data["type"], result)
        return result

    async def _answer_prompt(
        self,
        data: dict[str, Any],
        answer: tuple[str, str],
        among: list[BaseTrigger],
        body: bytes,
    ) -> None:
        """A click on a prompt's button: the first resumes the prompt's run with the
        button's value (``action.value``) and who clicked (``user``); a later one, or one
        past the prompt's timeout, resumes and starts nothing and is logged refused."""
        token, value = answer
        data["action"] = {**data["action"], "value": value}
        answering, refusal = self.prompts.claim(token, data["user"], value)
        result = await self._route(data, (token,), among, body, None, answering)
        if result.refused:
            self._context.router.refused(SUBTYPE, refusal.error, delivery_id=data["delivery_id"])
            self.metrics.prompt("refused")
        elif not result.duplicate:
            self.metrics.prompt("answered")

    async def _verified(
        self, request: Request, body: bytes, team: str | None, delivery_id: str | None
    ) -> list[BaseTrigger]:
        """The triggers the request reaches once verified: those of its workspace (and of
        none) holding the own secret that signed it, or, signed with the gateway-wide
        secret, those without one. Every other deployed trigger's secret is tried last: a
        request Slack signed for a workspace nothing here takes is verified, and filtered.

        401 (logged as refused) when no secret verifies it.
        """
        triggers = self._context.triggers.candidates(SUBTYPE, (team,) if team else ())
        holders: dict[str, list[BaseTrigger]] = {}
        guards: dict[str, IngressGuard] = {}
        shared: list[BaseTrigger] = []
        for trigger in triggers:
            if not isinstance(trigger, SlackTrigger):
                continue
            if not trigger.guards:
                shared.append(trigger)
            for fingerprint, guard in trigger.guards.items():
                holders.setdefault(fingerprint, []).append(trigger)
                guards.setdefault(fingerprint, guard)
        candidates = [(holders[f], guard) for f, guard in guards.items()]
        if self._shared is not None:
            candidates.append((shared, self._shared))
        others = keys_of(self._context).guards().items()
        candidates += [([], guard) for f, guard in others if f not in guards]
        if not candidates:
            self._refused(
                HTTPError(
                    401,
                    "INVALID_SIGNATURE",
                    "no signing secret verifies this request: no SLACK trigger with a "
                    "signing_secret, and HIGHWAY_SLACK_SIGNING_SECRET is not set",
                ),
                delivery_id,
            )
        try:
            among, _ = await admit_first(
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
        return among

    def _challenge(self, payload: dict[str, Any]) -> Response:
        """``url_verification`` (the Request URL was set): its challenge, starts nothing."""
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            self._refused(HTTPError(400, "MISSING_FIELD", "url_verification needs a challenge"))
        self._context.router.missed(SUBTYPE, "url_verification: answered, starts nothing")
        self.metrics.answered("url_verification")
        return JSONResponse({"challenge": challenge})

    def _ssl_check(self, body: bytes) -> Response | None:
        """Slack's ``ssl_check=1`` form (posted to a command's or the interactivity Request
        URL when it is saved, and now and then, to check the certificate; no command, no
        payload): answered 200 without a body, before any signature check, as Slack's own
        SDKs answer it. It starts and stores nothing. ``None`` for any other request."""
        if b"ssl_check=1" not in body:  # a field value holds no raw '=': a name does
            return None
        try:
            if form_fields(body).get("ssl_check") != "1":
                return None
        except HTTPError:
            return None
        self._context.router.missed(SUBTYPE, "ssl_check: answered, starts nothing")
        self.metrics.answered("ssl_check")
        return Response(status_code=200)

    def _noted(self, kind: str | None) -> Response:
        """A verified request that is no event (``app_rate_limited``): 200, starts nothing."""
        message = f"{kind or 'a request without type'}: not an event_callback, starts nothing"
        self._context.router.missed(SUBTYPE, message)
        self.metrics.answered(kind)
        return JSONResponse({"status": "ok", "message": message})

    def _checked(self, delivery_id: str, field: str) -> None:
        """``delivery_id`` as the delivery log takes it; else 400, logged as refused."""
        try:
            check_delivery_id(delivery_id, field)
        except HTTPError as error:
            self._refused(error)

    def _refused(self, error: HTTPError, delivery_id: str | None = None) -> NoReturn:
        """Log a request refused before routing, and answer it with ``error``."""
        self._context.router.refused(SUBTYPE, error, delivery_id=delivery_id)
        self.metrics.refused(error.code)
        raise error


def _acknowledged(result: RouteResult) -> Response:
    """``accepted``'s body, with the 200 Slack expects of every delivery it sends."""
    answer = accepted(result)
    answer.status_code = 200
    return answer


def _both(first: Claim, then: Claim) -> Claim:
    """One claim of ``first`` and ``then``: refused when either refuses."""
    return lambda conn: first(conn) and then(conn)


def _retry_num(request: Request) -> int | None:
    """``X-Slack-Retry-Num`` (1 to 3 on Slack's retries), ``None`` on a first attempt."""
    sent = request.headers.get("x-slack-retry-num", "")
    return int(sent) if sent.isascii() and sent.isdigit() and len(sent) < 6 else None


def _valid(delivery_id: str | None) -> str | None:
    """``delivery_id`` if the delivery log may show it (a refusal names what it can)."""
    try:
        return check_delivery_id(delivery_id, "")
    except HTTPError:
        return None
