"""What a Slack request becomes: the trigger data handed to the engine (one documented shape
for events, interactions and slash commands), the correlation keys that resume waiting runs,
and the delivery id each request is deduplicated on."""

from __future__ import annotations

import hashlib
from typing import Any

EVENT, INTERACTION, COMMAND = "event", "interaction", "command"
"""Where a request came from: the Events API, interactivity, a slash command."""
SLASH_COMMAND = "slash_command"
"""The ``type`` of a slash command's trigger data."""
EDITS = frozenset({"message_changed", "message_deleted", "message_replied"})
"""Message subtypes about an earlier message: an edit, a deletion, a reply's notice."""


def event_data(payload: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """An Events API ``event_callback`` as trigger data (see the README's "Trigger data")."""
    event = as_object(payload.get("event"))
    subtype = as_text(event.get("subtype"))
    # message_changed carries the new message; message_replied the thread's parent
    edited = as_object(event.get("message")) if subtype == "message_changed" else {}
    parent = as_object(event.get("message")) if subtype == "message_replied" else {}
    return _data(
        EVENT,
        as_text(event.get("type")),
        delivery_id,
        payload,
        subtype=subtype,
        team=as_text(payload.get("team_id")),
        channel=as_text(event.get("channel"))
        or as_text(as_object(event.get("item")).get("channel")),
        user=as_text(event.get("user")) or as_text(edited.get("user")) or _last_replier(parent),
        user_name=as_text(event.get("username")),
        bot_id=as_text(event.get("bot_id")) or as_text(edited.get("bot_id")),
        text=as_text(event.get("text")) or as_text(edited.get("text")),
        ts=as_text(event.get("ts")) or as_text(event.get("event_ts")),
        thread_ts=as_text(event.get("thread_ts"))
        or as_text(edited.get("thread_ts"))
        or as_text(parent.get("thread_ts")),
    )


def interaction_data(payload: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """An interactivity payload (``block_actions`` …) as trigger data: who clicked, where,
    and the first action."""
    user = as_object(payload.get("user"))
    container = as_object(payload.get("container"))
    message = as_object(payload.get("message"))
    actions = [a for a in _array(payload.get("actions")) if isinstance(a, dict)]
    return _data(
        INTERACTION,
        as_text(payload.get("type")),
        delivery_id,
        payload,
        team=as_text(as_object(payload.get("team")).get("id")) or as_text(user.get("team_id")),
        channel=as_text(as_object(payload.get("channel")).get("id"))
        or as_text(container.get("channel_id")),
        user=as_text(user.get("id")),
        user_name=as_text(user.get("username")) or as_text(user.get("name")),
        text=as_text(message.get("text")),
        ts=as_text(container.get("message_ts")) or as_text(message.get("ts")),
        thread_ts=as_text(container.get("thread_ts")) or as_text(message.get("thread_ts")),
        action=_action(actions[0]) if actions else None,
    )


def command_data(fields: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """A slash command's form fields as trigger data."""
    return _data(
        COMMAND,
        SLASH_COMMAND,
        delivery_id,
        fields,
        team=as_text(fields.get("team_id")),
        channel=as_text(fields.get("channel_id")),
        user=as_text(fields.get("user_id")),
        user_name=as_text(fields.get("user_name")),
        text=as_text(fields.get("text")),
        command=as_text(fields.get("command")),
    )


def is_bot(data: dict[str, Any]) -> bool:
    """Whether a bot sent it: a ``bot_id``, or the subtype ``bot_message``."""
    return data["bot_id"] is not None or data["subtype"] == "bot_message"


def thread_keys(data: dict[str, Any]) -> tuple[str, ...]:
    """``slack:{team}:{channel}:{thread_ts}`` for a person's reply in a thread (a message
    with ``thread_ts``, or the ``message_replied`` notice); none for the thread's parent,
    an edit, a deletion or a bot's message (the gateway's own prompts among them)."""
    team, channel, thread = data["team"], data["channel"], data["thread_ts"]
    if (
        data["kind"] != EVENT
        or data["type"] != "message"
        or is_bot(data)
        or data["subtype"] in ("message_changed", "message_deleted")
        or None in (team, channel, thread)
        or thread == data["ts"]
    ):
        return ()
    return (f"slack:{team}:{channel}:{thread}",)


def action_keys(data: dict[str, Any]) -> tuple[str, ...]:
    """The ``value`` and ``block_id`` of each action of an interaction: the correlation key
    of the run that posted the buttons."""
    keys: dict[str, None] = {}
    for action in _array(data["payload"].get("actions")):
        if isinstance(action, dict):
            summary = _action(action)
            for key in (summary["value"], summary["block_id"]):
                if key:
                    keys[key] = None
    return tuple(keys)


def derived_id(fields: dict[str, Any], body: bytes) -> str:
    """The delivery id of an interaction or slash command, which carry no ``event_id``: its
    ``trigger_id`` (one per click or command), else the SHA-256 of the signed body."""
    trigger_id = as_text(fields.get("trigger_id"))
    return trigger_id or f"sha256:{hashlib.sha256(body).hexdigest()}"


def _data(
    kind: str,
    type_: str | None,
    delivery_id: str,
    payload: dict[str, Any],
    *,
    subtype: str | None = None,
    team: str | None = None,
    channel: str | None = None,
    user: str | None = None,
    user_name: str | None = None,
    bot_id: str | None = None,
    text: str | None = None,
    ts: str | None = None,
    thread_ts: str | None = None,
    command: str | None = None,
    action: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "type": type_,
        "subtype": subtype,
        "delivery_id": delivery_id,
        "team": team,
        "channel": channel,
        "user": user,
        "user_name": user_name,
        "bot_id": bot_id,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "command": command,
        "action": action,
        "payload": payload,
    }


def _action(action: dict[str, Any]) -> dict[str, Any]:
    """An action's ids, type, value (a select menu's: the selected option's) and time."""
    value = as_text(action.get("value")) or as_text(
        as_object(action.get("selected_option")).get("value")
    )
    return {
        "action_id": as_text(action.get("action_id")),
        "block_id": as_text(action.get("block_id")),
        "type": as_text(action.get("type")),
        "value": value,
        "action_ts": as_text(action.get("action_ts")),
    }


def _last_replier(parent: dict[str, Any]) -> str | None:
    """Who wrote the newest reply a ``message_replied`` notice lists."""
    replies = [r for r in _array(parent.get("replies")) if isinstance(r, dict)]
    return as_text(replies[-1].get("user")) if replies else None


def as_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (an odd payload is no error)."""
    return value if isinstance(value, dict) else {}


def _array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """``value`` if it is a non-empty string."""
    return value if isinstance(value, str) and value else None
