"""SLACK triggers' filters through the real routes: one trigger per case in a workspace of
its own, one signed request (an event, a click or a slash command), and either a run
started or a ``filtered`` delivery log row saying why; then the 422s of configs that cannot
work, and the trigger data and matcher on payloads too odd to send (they must never raise)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from highway_triggers_slack.config import SlackConfig
from highway_triggers_slack.delivery import (
    COMMAND,
    EDITS,
    action_keys,
    command_data,
    event_data,
    interaction_data,
    is_bot,
    thread_keys,
)
from highway_triggers_slack.matcher import mismatch
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_hub import (
    COMMANDS,
    EVENTS,
    FORM,
    INTERACTIONS,
    Hub,
    block_actions,
    event_callback,
    form,
    slash_command,
    unique,
)

from highway_triggers.testing import validation_errors

Sent = tuple[str, bytes, str, str]
"""A request: path, body, content type, delivery id."""
Request = Callable[[str, str], Sent]
"""Builds a case's request in a workspace and channel of its own."""
HERE, ELSEWHERE = "$here", "C0ELSEWHERE"
"""In a case's config: the channel of its request, and another one."""
ROUTED = None
"""A case's expectation: a run starts (else the fragment of the delivery log's reason)."""


def event(name: str = "event_callback.message.channel.json", **changes: Any) -> Request:
    """An Events API request of the fixture ``name`` in the case's channel, its ``event``
    changed by ``changes``."""

    def build(team: str, channel: str) -> Sent:
        payload = event_callback(name, team=team, **{"channel": channel, **changes})
        if "item" in payload["event"]:  # a reaction: the channel of the message reacted to
            del payload["event"]["channel"]
            payload["event"]["item"]["channel"] = channel
        return EVENTS, json.dumps(payload).encode(), "application/json", payload["event_id"]

    return build


def message(**changes: Any) -> Request:
    return event(**changes)


def mention(**changes: Any) -> Request:
    return event("event_callback.app_mention.json", **changes)


def click() -> Request:
    def build(team: str, channel: str) -> Sent:
        payload = block_actions(team, value="go", channel={"id": channel, "name": "ops"})
        body = form(payload=json.dumps(payload))
        return INTERACTIONS, body, FORM, payload["trigger_id"]

    return build


def command(name: str, text: str = "") -> Request:
    def build(team: str, channel: str) -> Sent:
        body = slash_command(team, name, text, channel_id=channel)
        trigger_id = dict(item.split("=", 1) for item in body.decode().split("&"))["trigger_id"]
        return COMMANDS, body, FORM, trigger_id

    return build


def case(name: str, config: dict[str, Any], request: Request, why_not: str | None) -> Any:
    return pytest.param(config, request, why_not, id=name)


MENTION = {"mention_required": True, "bot_user_id": "U0LAN0Z89"}
CASES = [
    # what is taken: event types, interaction types, slash commands
    case("type/default-message", {}, message(), ROUTED),
    case(
        "type/default-is-message-only",
        {},
        mention(),
        "type 'app_mention' is not in event_types ['message']",
    ),
    case("type/listed", {"event_types": ["app_mention"]}, mention(), ROUTED),
    case(
        "type/reaction",
        {"event_types": ["reaction_added"]},
        event("event_callback.reaction_added.json"),
        ROUTED,
    ),
    case(
        "type/commands-only-take-no-message",
        {"commands": ["/deploy"]},
        message(),
        "type 'message' is not in event_types []",
    ),
    case("type/click-listed", {"event_types": ["block_actions"]}, click(), ROUTED),
    case("type/click-not-listed", {}, click(), "type 'block_actions' is not in event_types"),
    case("command/listed", {"commands": ["/deploy"]}, command("/deploy"), ROUTED),
    case(
        "command/not-listed",
        {"commands": ["/deploy"]},
        command("/ship"),
        "command '/ship' is not in commands ['/deploy']",
    ),
    case("command/none-listed", {}, command("/deploy"), "command '/deploy' is not in commands []"),
    # where and who
    case("channels/listed", {"channels": [ELSEWHERE, HERE]}, message(), ROUTED),
    case("channels/not-listed", {"channels": [ELSEWHERE]}, message(), "is not in channels"),
    case(
        "channels/reaction-item",
        {"event_types": ["reaction_added"], "channels": [HERE]},
        event("event_callback.reaction_added.json"),
        ROUTED,
    ),
    case("channels/click", {"event_types": ["block_actions"], "channels": [HERE]}, click(), ROUTED),
    case(
        "channels/command",
        {"commands": ["/deploy"], "channels": [ELSEWHERE]},
        command("/deploy"),
        "is not in channels",
    ),
    case("users/listed", {"users": ["U123ABC456"]}, message(), ROUTED),
    case(
        "users/not-listed",
        {"users": ["U0SOMEONE"]},
        message(),
        "user 'U123ABC456' is not in users",
    ),
    case("users/click", {"event_types": ["block_actions"], "users": ["W111"]}, click(), ROUTED),
    case(
        "users/command",
        {"commands": ["/deploy"], "users": ["U0SOMEONE"]},
        command("/deploy"),
        "user 'U2CERLKJA' is not in users",
    ),
    # bots and edits
    case(
        "bots/bot-message-ignored",
        {},
        event("event_callback.message.bot_message.json"),
        "sent by a bot (BB12033; ignore_bots)",
    ),
    case(
        "bots/bot-id-ignored",
        {},
        message(bot_id="B0OTHERAPP"),
        "sent by a bot (B0OTHERAPP; ignore_bots)",
    ),
    case(
        "bots/taken",
        {"ignore_bots": False},
        event("event_callback.message.bot_message.json"),
        ROUTED,
    ),
    case(
        "edits/changed-ignored",
        {},
        event("event_callback.message.message_changed.json"),
        "subtype 'message_changed' is about an earlier message (ignore_edits)",
    ),
    case(
        "edits/deleted-ignored",
        {},
        message(subtype="message_deleted", deleted_ts="1355517523.000005", text=None, user=None),
        "subtype 'message_deleted' is about an earlier message",
    ),
    case(
        "edits/replied-ignored",
        {},
        event("event_callback.message.thread_reply.json"),
        "subtype 'message_replied' is about an earlier message",
    ),
    case(
        "edits/changed-taken",
        {"ignore_edits": False},
        event("event_callback.message.message_changed.json"),
        ROUTED,
    ),
    # mentions of the bot
    case("mention/bot-user-id", {"event_types": ["app_mention"], **MENTION}, mention(), ROUTED),
    case("mention/labelled", MENTION, message(text="<@U0LAN0Z89|helper> deploy"), ROUTED),
    case(
        "mention/not-mentioned",
        MENTION,
        message(text="deploy, <@U0SOMEONE>"),
        "the bot ['U0LAN0Z89'] is not mentioned (mention_required)",
    ),
    case(
        "mention/from-authorizations",
        {"event_types": ["app_mention"], "mention_required": True},
        mention(text="<@U123ABC456> is it everything?"),
        ROUTED,
    ),
    case(
        "mention/authorizations-not-mentioned",
        {"event_types": ["app_mention"], "mention_required": True},
        mention(),
        "the bot ['U123ABC456'] is not mentioned",
    ),
    case(
        "mention/no-bot-known",
        {"mention_required": True},
        message(text="<@U0LAN0Z89> hi"),
        "no bot user id to look for (mention_required: set bot_user_id)",
    ),
    # threads
    case("thread/top-level", {"thread_only": True}, message(), "not a reply in a thread"),
    case("thread/reply", {"thread_only": True}, message(thread_ts="1355517000.000001"), ROUTED),
    case(
        "thread/parent",
        {"thread_only": True},
        message(thread_ts="1355517523.000005"),  # its own ts: the thread's first message
        "not a reply in a thread (thread_only)",
    ),
    # text
    case(
        "text/matches",
        {"text_pattern": "deploy (prod|staging)"},
        message(text="please deploy prod now"),
        ROUTED,
    ),
    case(
        "text/no-match",
        {"text_pattern": "deploy (prod|staging)"},
        message(text="hello"),
        "the text does not match text_pattern 'deploy (prod|staging)'",
    ),
    case("text/anchored", {"text_pattern": "^hello$"}, message(text="Hello"), "does not match"),
    case(
        "text/command",
        {"commands": ["/deploy"], "text_pattern": "^(prod|staging)$"},
        command("/deploy", "staging"),
        ROUTED,
    ),
    case(
        "text/none",
        {"event_types": ["reaction_added"], "text_pattern": "."},
        event("event_callback.reaction_added.json"),
        "does not match text_pattern",
    ),
]


@pytest.mark.parametrize(("config", "request_of", "why_not"), CASES)
def test_filter(
    sqlite_hub: Hub, config: dict[str, Any], request_of: Request, why_not: str | None
) -> None:
    team, channel = unique("T"), unique("C")
    placed = {
        key: [channel if item == HERE else item for item in value] if key == "channels" else value
        for key, value in config.items()
    }
    workflow_id = sqlite_hub.deploy({"workspace_id": team, **placed})
    path, body, content_type, delivery_id = request_of(team, channel)

    answer = sqlite_hub.post(path, body, content_type=content_type)

    assert answer.status_code == 200, answer.text
    if why_not is ROUTED:
        (start,) = sqlite_hub.starts(workflow_id)
        assert start.body["trigger_data"]["delivery_id"] == delivery_id
        return
    (row,) = sqlite_hub.logged(delivery_id)
    assert row["outcome"] == "filtered"
    assert why_not in row["reason"], row["reason"]
    assert [(t["workflow_id"], why_not in t["reason"]) for t in row["targets"]] == [
        (workflow_id, True)
    ]


# configs that cannot work ----------------------------------------------------------------------


def refused_fields(client: httpx.Client, config: dict[str, Any]) -> dict[str, str]:
    """The fields and messages of the 422 refusing a SLACK trigger with ``config``."""
    answer = client.post(
        "/api/v1/deployment/workflows/slack-invalid/deploy",
        json={"triggers": [{"type": "SLACK", "config": config}]},
    )
    return validation_errors(answer)


INVALID = [
    pytest.param(
        {"text_pattern": "deploy (prod"}, "text_pattern", "regular expression", id="regex"
    ),
    pytest.param({"text_pattern": "a" * 1025}, "text_pattern", "at most 1024", id="long-regex"),
    pytest.param({"workspace_id": "acme"}, "workspace_id", "should match pattern", id="team"),
    pytest.param({"channels": ["general"]}, "channels.0", "should match pattern", id="channel"),
    pytest.param({"channels": []}, "channels", "at least 1 item", id="no-channels"),
    pytest.param({"users": ["C123", "alice"]}, "users.0", "should match pattern", id="users"),
    pytest.param({"bot_user_id": "bot"}, "bot_user_id", "should match pattern", id="bot-user"),
    pytest.param({"commands": ["deploy"]}, "commands.0", "should match pattern", id="command"),
    pytest.param({"commands": ["/Deploy"]}, "commands.0", "should match pattern", id="case"),
    pytest.param({"event_types": ["Message"]}, "event_types.0", "should match", id="type"),
    pytest.param({"event_types": []}, "event_types", "at least 1 item", id="no-types"),
    pytest.param({"channel": ["C123"]}, "channel", "Extra inputs are not permitted", id="extra"),
    pytest.param({"ignore_bots": "maybe"}, "ignore_bots", "valid boolean", id="boolean"),
    pytest.param({"signing_secret": ""}, "signing_secret", "at least 1 character", id="secret"),
]


@pytest.mark.parametrize(("config", "field", "message"), INVALID)
def test_invalid_config_is_refused_naming_the_field(
    sqlite_hub: Hub, config: dict[str, Any], field: str, message: str
) -> None:
    fields = refused_fields(sqlite_hub.admin, config)
    assert message in fields[f"triggers[0].config.{field}"], fields


def test_channel_names_need_the_bot_token(sqlite_hub: Hub) -> None:
    fields = refused_fields(sqlite_hub.admin, {"channels": ["C0KNOWN", "#general", "#ops"]})
    assert set(fields) == {"triggers[0].config.channels.1", "triggers[0].config.channels.2"}
    assert "'#general' is a channel name" in fields["triggers[0].config.channels.1"]
    assert "HIGHWAY_SLACK_BOT_TOKEN" in fields["triggers[0].config.channels.2"]


# payloads too odd to send ----------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ODD = st.fixed_dictionaries(
    {},
    optional={
        "type": JSON,
        "team_id": JSON,
        "event": st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "subtype",
                    "channel",
                    "user",
                    "text",
                    "ts",
                    "thread_ts",
                    "bot_id",
                    "message",
                    "item",
                ]
            ),
            JSON,
        ),
        "authorizations": JSON,
        "actions": JSON,
        "team": JSON,
        "user": JSON,
        "container": JSON,
        "message": JSON,
        "command": JSON,
        "trigger_id": JSON,
    },
)
EVERY_FILTER = SlackConfig.model_validate(
    {
        "commands": ["/deploy"],
        "event_types": ["message"],
        "channels": ["C0NE"],
        "users": ["U0NE"],
        "mention_required": True,
        "thread_only": True,
        "text_pattern": "x",
    }
)


@settings(max_examples=300, deadline=None)
@given(payload=ODD)
def test_any_json_object_gives_trigger_data_and_a_verdict(payload: dict[str, Any]) -> None:
    for data in (
        event_data(payload, "Ev1"),
        interaction_data(payload, "1.2"),
        command_data(payload, "1.2"),
    ):
        assert set(data) >= {"kind", "type", "team", "channel", "user", "text", "payload"}
        assert isinstance(mismatch(EVERY_FILTER, data), str | None)
        person = data["kind"] != COMMAND and not is_bot(data) and data["subtype"] not in EDITS
        assert (mismatch(SlackConfig(), data) is None) == (person and data["type"] == "message")
        assert all(isinstance(key, str) for key in thread_keys(data) + action_keys(data))
