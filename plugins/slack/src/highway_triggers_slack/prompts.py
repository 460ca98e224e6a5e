"""Prompts: a question with buttons the engine has posted for a waiting run. The body of
``POST /api/v1/slack/prompts``, the message it becomes (Block Kit), and the answer a click
on one of its buttons carries."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from highway_triggers.plugin import Identifier, Printable, RequestBody
from highway_triggers_slack.config import CHANNEL_PATTERN, WORKSPACE_PATTERN

OWNER = "highway-triggers-slack"
"""The owner of the prompts' waits (the distribution's name): only this plugin's
interactions route resumes them, and only through a click on their buttons."""
TOKEN_PREFIX = "slack-prompt:"
"""How a prompt's token, and so its buttons' values, begin."""
MAX_BUTTONS = 25
"""Slack's limit of elements in an actions block."""
MAX_VALUE = 1900
"""Of a button's value: Slack takes 2,000 characters, the token comes first."""
MAX_TIMEOUT_SECONDS = 365 * 24 * 3600
THREAD_TS_PATTERN = r"^[0-9]{1,16}\.[0-9]{1,16}$"
CHANNEL_REF_PATTERN = rf"^(?:{CHANNEL_PATTERN[1:-1]}|#[^\s#]{{1,80}})$"
"""A channel id, or ``#name``."""
Text = Annotated[str, Field(min_length=1, max_length=512), Printable]


class Button(RequestBody):
    """A button of the prompt: what it shows, the value a click on it resumes the run with."""

    text: Annotated[str, Field(min_length=1, max_length=75), Printable]
    value: Annotated[str, Field(min_length=1, max_length=MAX_VALUE), Printable]
    style: Literal["primary", "danger"] | None = None


class PromptWait(RequestBody):
    """The run the prompt's answer resumes (as ``POST /api/v1/waits`` names it)."""

    tenant_id: Identifier
    workflow_run_id: Text
    workflow_id: Identifier | None = None
    event_name: Text = "slack.prompt"
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)
    """Past it, the run is resumed with ``{"status": "timeout"}`` and a click is refused."""


class PromptRequest(RequestBody):
    """The body of ``POST /api/v1/slack/prompts``."""

    channel: Annotated[str, Field(pattern=CHANNEL_REF_PATTERN)]
    """A channel id, or a ``#name`` resolved as a trigger's are."""
    text: Annotated[str, Field(min_length=1, max_length=3000)]
    """The question (Slack's ``mrkdwn``; line breaks allowed; a NUL is refused by the
    JSON parser)."""
    thread_ts: Annotated[str, Field(pattern=THREAD_TS_PATTERN)] | None = None
    """Post it as a reply in this thread."""
    buttons: Annotated[list[Button], Field(min_length=1, max_length=MAX_BUTTONS)]
    workspace_id: Annotated[str, Field(pattern=WORKSPACE_PATTERN)] | None = None
    """The workspace, for ``thread_key``; default: the one Slack names in the message."""
    wait: PromptWait
    idempotency_key: Text | None = None
    """A repeated request with the same key (and tenant) answers the first prompt, posted once."""


class Prompt(BaseModel):
    """A posted prompt (for ``/openapi.json``)."""

    prompt_id: str
    channel: str
    ts: str
    """The posted message's."""
    thread_ts: str
    """The thread a reply to the prompt is in: ``thread_ts`` of the request, else ``ts``."""
    thread_key: str | None
    """``slack:{team}:{channel}:{thread_ts}``: the correlation key a reply would resume
    (``null`` when the workspace is not known)."""
    token: str
    """The token of the prompt's wait, in its buttons' values."""
    wait_id: str
    expires_at: str | None


def new_prompt_id() -> str:
    """A prompt's public id (and its actions block's ``block_id``)."""
    return f"sp_{secrets.token_hex(12)}"


def new_token() -> str:
    """A prompt's wait token: unguessable, so that no click resumes another prompt's run."""
    return f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}"


def message(channel: str, request: PromptRequest, prompt_id: str, token: str) -> dict[str, Any]:
    """The ``chat.postMessage`` arguments: a section with the text, an actions block whose
    buttons carry ``{token}:{value}``; ``text`` is the notification's fallback."""
    buttons = [
        {
            "type": "button",
            "action_id": f"answer-{i}",
            "text": {"type": "plain_text", "text": button.text, "emoji": True},
            "value": f"{token}:{button.value}",
            **({"style": button.style} if button.style else {}),
        }
        for i, button in enumerate(request.buttons)
    ]
    sent: dict[str, Any] = {
        "channel": channel,
        "text": request.text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": request.text}},
            {"type": "actions", "block_id": prompt_id, "elements": buttons},
        ],
    }
    if request.thread_ts is not None:
        sent["thread_ts"] = request.thread_ts
    return sent


def prompt_answer(data: dict[str, Any]) -> tuple[str, str] | None:
    """``(token, value)`` of a click on a prompt's button (``block_actions`` trigger data),
    else ``None``."""
    action = data["action"]
    value = action["value"] if data["type"] == "block_actions" and action else None
    if value is None or not value.startswith(TOKEN_PREFIX):
        return None
    secret, separator, answer = value[len(TOKEN_PREFIX) :].partition(":")
    return (f"{TOKEN_PREFIX}{secret}", answer) if secret and separator else None
