"""``POST /api/v1/slack/interactions`` and ``/api/v1/slack/commands`` end to end: a button
click resumes the run waiting on its value or block id, with who clicked; a replayed click
is a duplicate; a slash command starts a run and tells its user so; forms that are not what
Slack sends are refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import httpx
from highway_triggers.testing import metric
from slack_hub import (
    COMMANDS,
    FORM,
    INTERACTIONS,
    SETTLE_SECONDS,
    SHARED_SECRET,
    Hub,
    block_actions,
    fixture,
    fixture_json,
    form,
    new_id,
    resumed,
    slash_command,
    unique,
    wait_on,
)

CLICK = fixture_json("interactivity.block_actions.payload.json")
"""Slack's ``block_actions`` example, as its form (``interactivity.block_actions.form.txt``) carries it."""


def acknowledged(answer: httpx.Response) -> None:
    """Slack's acknowledgement of an interaction: 200, no body."""
    assert (answer.status_code, answer.content) == (200, b""), answer.text


# block actions ---------------------------------------------------------------------------------


def test_a_click_resumes_the_run_waiting_on_the_buttons_value(hub: Hub) -> None:
    run_id = f"run-{new_id()}"
    value = CLICK["actions"][0]["value"]  # click_me_123: the wait's correlation key
    wait_id = wait_on(hub, value, run_id)
    body = fixture("interactivity.block_actions.form.txt")  # Slack's request, byte for byte

    acknowledged(hub.post(INTERACTIONS, body, content_type=FORM))

    data = resumed(hub, run_id, wait_id)
    action = CLICK["actions"][0]
    assert data == {
        "kind": "interaction",
        "type": "block_actions",
        "subtype": None,
        "delivery_id": CLICK["trigger_id"],
        "team": "T111",
        "channel": "C111",
        "user": "W111",  # who clicked
        "user_name": "primary-owner",
        "bot_id": None,
        "text": None,
        "ts": "111.222",
        "thread_ts": None,
        "command": None,
        "action": {
            "action_id": "a",
            "block_id": "b",
            "type": "button",
            "value": "click_me_123",
            "action_ts": action["action_ts"],
        },
        "payload": CLICK,
    }
    (row,) = hub.logged(CLICK["trigger_id"])
    assert (row["outcome"], row["resumed"]) == ("delivered", 1)
    stored = hub.stored(CLICK["trigger_id"]).json()
    assert (stored["kind"], stored["type"], stored["user_id"]) == (
        "interaction",
        "block_actions",
        "W111",
    )
    assert stored["payload"] == body.decode()

    acknowledged(hub.post(INTERACTIONS, body, content_type=FORM))  # the same click, replayed
    newest, _ = hub.logged(CLICK["trigger_id"], 2)
    assert (newest["outcome"], newest["resumed"]) == ("duplicate", 0)


def test_a_click_resumes_the_run_waiting_on_the_buttons_block_id(hub: Hub) -> None:
    team, run_id = unique("T"), f"run-{new_id()}"
    block_id = f"approval:{run_id}"
    wait_id = wait_on(hub, block_id, run_id)
    reject = block_actions(team, value="reject", block_id=block_id)
    reject["user"].update(id="U0REVIEWER", username="reviewer")

    acknowledged(hub.interaction(reject))

    data = resumed(hub, run_id, wait_id)
    assert (data["user"], data["user_name"], data["team"]) == ("U0REVIEWER", "reviewer", team)
    assert data["action"]["value"] == "reject"
    assert data["action"]["block_id"] == block_id


def test_a_click_nothing_waits_on_starts_a_trigger_taking_block_actions(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team, "event_types": ["block_actions"]})
    click = block_actions(team, value=f"nobody-waits-{new_id()}")

    acknowledged(hub.interaction(click))

    assert hub.started(workflow) == [click["trigger_id"]]
    (row,) = hub.logged(click["trigger_id"])
    assert (row["outcome"], row["started"]) == ("delivered", 1)


def test_an_interaction_without_trigger_id_is_deduplicated_on_its_body(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team, "event_types": ["block_actions"]})
    click = block_actions(team, value="v")
    del click["trigger_id"]
    body = form(payload=json.dumps(click))

    acknowledged(hub.post(INTERACTIONS, body, content_type=FORM))
    acknowledged(hub.post(INTERACTIONS, body, content_type=FORM))

    (delivery_id,) = hub.started(workflow)
    assert delivery_id.startswith("sha256:") and len(delivery_id) == len("sha256:") + 64
    assert [row["outcome"] for row in hub.logged(delivery_id, 2)] == ["duplicate", "delivered"]


# slash commands ------------------------------------------------------------------------------


def test_a_slash_command_starts_a_run_and_tells_its_user(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team, "commands": ["/deploy"]})
    body = slash_command(team, "/deploy", "prod now")

    answer = hub.command(body)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "response_type": "ephemeral",
        "text": "/deploy: started 1 run(s), resumed 0",
    }
    (call,) = hub.starts(workflow)
    data = call.body["trigger_data"]
    sent = dict(item.split("=", 1) for item in body.decode().split("&"))
    assert {k: data[k] for k in ("kind", "type", "command", "text", "team")} == {
        "kind": "command",
        "type": "slash_command",
        "command": "/deploy",
        "text": "prod now",
        "team": team,
    }
    assert (data["channel"], data["user"], data["user_name"]) == (
        "G8PSS9T3V",
        "U2CERLKJA",
        "roadrunner",
    )
    assert data["delivery_id"] == sent["trigger_id"]
    assert data["payload"]["response_url"].startswith("https://hooks.slack.com/commands/")
    assert hub.stored(sent["trigger_id"]).json()["payload"] == body.decode()

    again = hub.command(body)  # the same request, replayed
    assert again.json()["text"] == "/deploy: already received"
    time.sleep(SETTLE_SECONDS)
    assert len(hub.engine.starts(workflow)) == 1


def test_a_command_no_trigger_takes_is_answered_and_filtered(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team, "commands": ["/deploy"]})
    body = slash_command(team, "/rollback")
    trigger_id = dict(item.split("=", 1) for item in body.decode().split("&"))["trigger_id"]

    answer = hub.command(body)

    assert answer.json()["text"] == "/rollback: started 0 run(s), resumed 0"
    (row,) = hub.logged(trigger_id)
    assert row["outcome"] == "filtered"
    assert "command '/rollback' is not in commands ['/deploy']" in row["reason"]
    assert [t["workflow_id"] for t in row["targets"]] == [workflow]


def test_an_ssl_check_is_answered_and_starts_and_stores_nothing(hub: Hub) -> None:
    """Slack posts ``ssl_check=1`` (and its old verification token) to a command's or the
    interactivity Request URL when it is saved: answered 200 (else Slack refuses the URL),
    signed or not, routing and storing nothing."""
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team, "commands": ["/deploy"]})
    counted = {"type": "ssl_check", "outcome": "answered"}
    checks = metric(hub.admin, "highway_slack_deliveries_total", **counted)
    check = b"ssl_check=1&token=gIkuvaNzQIHg97ATvDxqgjtO"
    for path in (COMMANDS, INTERACTIONS):
        for secret in (SHARED_SECRET, None):
            answer = hub.post(path, check, content_type=FORM, secret=secret)
            assert (answer.status_code, answer.content) == (200, b""), answer.text
    assert metric(hub.admin, "highway_slack_deliveries_total", **counted) == checks + 4
    not_a_check = hub.post(COMMANDS, b"ssl_check=0", content_type=FORM)
    assert not_a_check.status_code == 400, not_a_check.text
    time.sleep(SETTLE_SECONDS)
    assert hub.engine.starts(workflow) == []


# hostile forms ---------------------------------------------------------------------------------


def test_forms_that_are_not_slacks_are_refused(hub: Hub) -> None:
    team = unique("T")
    interactions = [
        (b"%%%", "MALFORMED_BODY"),
        (b"\xff=1", "MALFORMED_BODY"),
        (b"other=1", "MALFORMED_BODY"),
        (b"payload=%7B", "MALFORMED_BODY"),
        (form(payload="[1]"), "MALFORMED_BODY"),
        (b"payload=1&payload=2", "MALFORMED_BODY"),
        (b"payload=%7B%22a%22%3A%22%00%22%7D", "UNSUPPORTED_CHARACTER"),
        (form(payload='{"a": 1, "a": 2}'), "UNSUPPORTED_JSON"),
    ]
    for body, code in interactions:
        answer = hub.post(INTERACTIONS, body, content_type=FORM)
        assert (answer.status_code, answer.json().get("code")) == (400, code), (body, answer.text)
        unsigned = hub.post(INTERACTIONS, body, content_type=FORM, secret=None)
        assert unsigned.status_code == 401, body

    no_command = form(team_id=team, trigger_id=f"1.{new_id()}")
    hub.refused(hub.command(no_command), 400, "MISSING_FIELD", no_command.decode().split("=")[-1])
    with_nul = slash_command(team, "/deploy", "a\x00b")
    answer = hub.command(with_nul)
    assert (answer.status_code, answer.json()["code"]) == (400, "UNSUPPORTED_CHARACTER")
    as_json = hub.command(json.dumps({"command": "/deploy", "team_id": team}).encode())
    assert (as_json.status_code, as_json.json()["code"]) == (400, "MALFORMED_BODY")
