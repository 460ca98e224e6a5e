"""``POST /api/v1/slack/prompts``: the engine posts a question with buttons for a waiting
run; the first click on one of them resumes it (see the interactions route)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers.plugin import (
    ConfigError,
    GatewayContext,
    HTTPError,
    admin,
    operation,
    read_object,
)
from highway_triggers_slack.metrics import SlackMetrics
from highway_triggers_slack.prompt_store import PromptExists, PromptStore
from highway_triggers_slack.prompts import (
    Prompt,
    PromptRequest,
    message,
    new_prompt_id,
    new_token,
)
from highway_triggers_slack.settings import SlackSettings
from highway_triggers_slack.web_api import SlackWebApi

PROMPTS_PATH = "/api/v1/slack/prompts"


class PromptApi:
    """Posts prompts to Slack and stores each with its wait."""

    def __init__(
        self,
        context: GatewayContext,
        settings: SlackSettings,
        store: PromptStore,
        metrics: SlackMetrics,
    ) -> None:
        self._context = context
        self._settings = settings
        self._store = store
        self._metrics = metrics

    def routes(self) -> list[BaseRoute]:
        return [Route(PROMPTS_PATH, admin(self.prompts), methods=["POST"])]

    @operation(body=PromptRequest, responses={200: Prompt, 201: Prompt}, errors=(409, 502, 503))
    async def prompts(self, request: Request) -> Response:
        """Post a prompt (``chat.postMessage``: the text, and a button for each of
        ``buttons``) and register the wait its first click resumes; 201 with the prompt, 200
        with the first one for an ``idempotency_key`` seen before.

        Nothing is stored unless the message was posted: 502 ``SLACK_API_ERROR`` when
        Slack refuses it, 503 when Slack cannot be asked or refuses the bot token; 409
        ``SLACK_BOT_TOKEN_MISSING`` when ``HIGHWAY_SLACK_BOT_TOKEN`` is not set; 422 naming
        a ``#channel`` the bot cannot see.
        """
        body = PromptRequest.parse(await read_object(request))
        database, tenant, key = self._context.database, body.wait.tenant_id, body.idempotency_key
        web = self._web_api()
        if key is not None and (first := await database.call(self._store.by_key, tenant, key)):
            return JSONResponse(first)
        prompt_id, token = new_prompt_id(), new_token()
        try:
            channel = await self._channel_id(web, body.channel)
            posted = await web.post_message(message(channel, body, prompt_id, token))
        except HTTPError:
            self._metrics.prompt("failed")
            raise
        try:
            view = await database.write(self._store.create, body, prompt_id, token, posted)
        except PromptExists:  # the same request, sent twice at once: the first stays
            await web.delete_message(posted.channel, posted.ts)
            first = await database.call(self._store.by_key, tenant, key) if key else None
            if first is None:
                raise HTTPError(409, "PROMPT_CONFLICT", "a concurrent prompt conflicted; retry")
            return JSONResponse(first)
        except Exception:  # no message left whose buttons resume nothing
            await web.delete_message(posted.channel, posted.ts)
            raise
        self._metrics.prompt("posted")
        return JSONResponse(view, status_code=201)

    def _web_api(self) -> SlackWebApi:
        """Slack's Web API with the bot token; 409 when none is set (no retry helps until
        the gateway is given one)."""
        token = self._settings.bot_token
        if token is None:
            raise HTTPError(
                409,
                "SLACK_BOT_TOKEN_MISSING",
                "set HIGHWAY_SLACK_BOT_TOKEN (a bot token with chat:write) to post prompts",
            )
        return SlackWebApi(
            token.get_secret_value(), self._settings.api_url, self._settings.api_timeout_seconds
        )

    @staticmethod
    async def _channel_id(web: SlackWebApi, channel: str) -> str:
        """A channel id as given, or the id of ``#name`` (``conversations.list``)."""
        if not channel.startswith("#"):
            return channel
        name = channel[1:].lower()
        found = (await web.channel_ids({name})).get(name)
        if found is None:
            message = f"no channel '{channel}' the bot can see (conversations.list)"
            raise ConfigError([{"field": "channel", "message": message}])
        return found
