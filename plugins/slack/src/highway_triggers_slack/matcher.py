"""Phase 2: whether a SLACK trigger takes a request, and if not, why (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from highway_triggers_slack.config import SlackConfig
from highway_triggers_slack.delivery import COMMAND, EDITS, is_bot


def mismatch(config: SlackConfig, data: dict[str, Any]) -> str | None:
    """Why ``config`` does not take the request whose trigger data is ``data``; ``None``
    when it does."""
    return (
        _kind(config, data)
        or _listed("channel", data["channel"], config.channels)
        or _listed("user", data["user"], config.users)
        or _sender(config, data)
        or _placed(config, data)
        or _text(config, data)
    )


def _kind(config: SlackConfig, data: dict[str, Any]) -> str | None:
    if data["kind"] == COMMAND:
        command, commands = data["command"], list(config.commands or ())
        return None if command in commands else f"command {command!r} is not in commands {commands}"
    kind, taken = data["type"], list(config.taken_types)
    return None if kind in taken else f"type {kind!r} is not in event_types {taken}"


def _listed(what: str, value: str | None, allowed: tuple[str, ...] | None) -> str | None:
    if allowed is None or value in allowed:
        return None
    return f"{what} {value!r} is not in {what}s"


def _sender(config: SlackConfig, data: dict[str, Any]) -> str | None:
    if config.ignore_bots and is_bot(data):
        return f"sent by a bot ({data['bot_id'] or data['subtype']}; ignore_bots)"
    if config.ignore_edits and data["subtype"] in EDITS:
        return f"subtype {data['subtype']!r} is about an earlier message (ignore_edits)"
    return None


def _placed(config: SlackConfig, data: dict[str, Any]) -> str | None:
    thread = data["thread_ts"]
    if config.thread_only and (thread is None or thread == data["ts"]):
        return "not a reply in a thread (thread_only)"
    return None


def _text(config: SlackConfig, data: dict[str, Any]) -> str | None:
    text = data["text"] or ""
    if config.mention_required:
        bots = [config.bot_user_id] if config.bot_user_id else _authorized(data["payload"])
        if not bots:
            return "no bot user id to look for (mention_required: set bot_user_id)"
        if not any(f"<@{bot}>" in text or f"<@{bot}|" in text for bot in bots):
            return f"the bot {bots} is not mentioned (mention_required)"
    if config.text_pattern is not None and config.text_pattern.search(text) is None:
        return f"the text does not match text_pattern {config.text_pattern.pattern!r}"
    return None


def _authorized(payload: dict[str, Any]) -> list[str]:
    """The user ids the Events API says the event was delivered for (``authorizations``)."""
    found = payload.get("authorizations")
    return [
        user
        for entry in (found if isinstance(found, list) else [])
        if isinstance(entry, dict) and isinstance(user := entry.get("user_id"), str) and user
    ]
