"""``POST /api/v1/slack/prompts`` end to end: the engine posts a question with buttons for a
waiting run, the gateway posts it with ``chat.postMessage`` to a fake of Slack's Web API on
loopback (:mod:`slack_web`) and registers the run's wait; the first signed click on one of
its buttons resumes the run, with the button's value and who clicked; every later click
is refused (answered 200, logged). Slack failing stores nothing; bodies that are not a
prompt are 422 naming the field. On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_hub import (
    SETTLE_SECONDS,
    SHARED_SECRET,
    Hub,
    block_actions,
    new_id,
    resumed,
    serving,
)
from slack_web import TEAM, ApiCall, FakeSlackApi, serving_api

from highway_triggers.fixtures import database_of
from highway_triggers.testing import running_engine, wait_until

BOT_TOKEN = "xoxb-17653672481-19874698323-promptsPromptsPro"
PROMPTS = "/api/v1/slack/prompts"
OWNER = "highway-triggers-slack"
API_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def slack_api() -> Iterator[tuple[FakeSlackApi, str]]:
    with serving_api(BOT_TOKEN) as (api, url):
        yield api, url


@pytest.fixture(scope="module")
def slack(slack_api: tuple[FakeSlackApi, str]) -> FakeSlackApi:
    return slack_api[0]


@pytest.fixture(scope="module")
def channel(slack: FakeSlackApi) -> str:
    """The id of ``#approvals``, where the prompts go."""
    return slack.create("approvals")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def prompts_hub(
    request: pytest.FixtureRequest,
    slack_api: tuple[FakeSlackApi, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("slack-prompts")
    env = {
        "SIGNING_SECRET": SHARED_SECRET,
        "BOT_TOKEN": BOT_TOKEN,
        "API_URL": slack_api[1],
        "API_TIMEOUT_SECONDS": str(API_TIMEOUT),
    }
    with (
        running_engine() as (engine, url),
        database_of(request.param, tmp_path) as database,
        serving(database, tmp_path, engine, url, env) as hub,
    ):
        yield hub


def prompt_body(channel: str, run_id: str, **changes: Any) -> dict[str, Any]:
    """An approval prompt in ``channel`` for ``run_id``, with ``changes``."""
    body: dict[str, Any] = {
        "channel": channel,
        "text": "Deploy *prod*?\nThe change is ready.",
        "buttons": [
            {"text": "Approve", "value": "approve", "style": "primary"},
            {"text": "Reject", "value": "reject", "style": "danger"},
        ],
        "wait": {"tenant_id": "slack-tests", "workflow_run_id": run_id},
    }
    body.update(changes)
    return body


def post_prompt(hub: Hub, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    answer = hub.admin.post(PROMPTS, json=body)
    assert answer.status_code == expect, answer.text
    found: dict[str, Any] = answer.json()
    return found


def click(
    message: dict[str, Any], channel: str, button: int, user: str, team: str = TEAM
) -> dict[str, Any]:
    """Slack's ``block_actions`` payload of ``user`` clicking the ``button``-th button of
    the posted ``message`` (a new ``trigger_id`` each time)."""
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    pressed = copy.deepcopy(actions["elements"][button])
    payload = block_actions(team, value=pressed["value"], block_id=actions["block_id"])
    payload["user"].update(id=user, username=user.lower(), name=user.lower())
    payload["channel"] = {"id": channel, "name": "approvals"}
    payload["container"] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel,
        "is_ephemeral": False,
    }
    payload["message"] = message
    payload["actions"] = [
        {**pressed, "block_id": actions["block_id"], "action_ts": f"{time.time():.6f}"}
    ]
    return payload


def posting(slack: FakeSlackApi, prompt: dict[str, Any]) -> ApiCall:
    """The ``chat.postMessage`` call that posted ``prompt``."""
    (call,) = [c for c in slack.posted() if c.body.get("ok") and c.body["ts"] == prompt["ts"]]
    return call


def sent_to_slack(slack: FakeSlackApi, prompt: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.postMessage`` body that posted ``prompt``."""
    sent = posting(slack, prompt).sent
    assert sent is not None
    return sent


def waits_of(hub: Hub, run_id: str) -> list[dict[str, Any]]:
    answer = hub.admin.get("/api/v1/waits", params={"workflow_run_id": run_id})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["waits"]
    return found


def resumes_of(hub: Hub, run_id: str) -> list[Any]:
    path = f"/v2/executions/{run_id}/resume"
    return [c for c in hub.engine.resumes() if c.path == path]


def acknowledged(answer: httpx.Response) -> None:
    """Slack's acknowledgement of an interaction: 200, no body."""
    assert (answer.status_code, answer.content) == (200, b""), answer.text


# posted ----------------------------------------------------------------------------------------


def test_a_prompt_is_posted_with_its_buttons_and_waits(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"

    prompt = post_prompt(prompts_hub, prompt_body(channel, run_id))

    sent = sent_to_slack(slack, prompt)
    token = prompt["token"]
    assert token.startswith("slack-prompt:") and len(token) >= len("slack-prompt:") + 32
    assert sent == {
        "channel": channel,
        "text": "Deploy *prod*?\nThe change is ready.",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Deploy *prod*?\nThe change is ready."},
            },
            {
                "type": "actions",
                "block_id": prompt["prompt_id"],
                "elements": [
                    {
                        "type": "button",
                        "action_id": "answer-0",
                        "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                        "value": f"{token}:approve",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "action_id": "answer-1",
                        "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                        "value": f"{token}:reject",
                        "style": "danger",
                    },
                ],
            },
        ],
    }
    assert posting(slack, prompt).token == BOT_TOKEN
    ts = prompt["ts"]
    assert prompt == {
        "prompt_id": prompt["prompt_id"],
        "channel": channel,
        "ts": ts,
        "thread_ts": ts,
        "thread_key": f"slack:{TEAM}:{channel}:{ts}",
        "token": token,
        "wait_id": prompt["wait_id"],
        "expires_at": None,
    }
    (wait,) = waits_of(prompts_hub, run_id)
    assert (wait["wait_id"], wait["status"], wait["token"], wait["owner"]) == (
        prompt["wait_id"],
        "open",
        token,
        OWNER,
    )
    assert wait["event_name"] == "slack.prompt" and "hook_url" not in wait


def test_a_prompt_in_a_thread_to_a_channel_name_with_its_own_wait(
    prompts_hub: Hub, slack: FakeSlackApi
) -> None:
    name = f"ops-{new_id().lower()}"
    ops = slack.create(name)
    run_id = f"run-{new_id()}"
    body = prompt_body(
        f"#{name.upper()}",  # Slack's names are lower case: found all the same
        run_id,
        thread_ts="1700000000.000100",
        workspace_id="T0GIVEN001",
        buttons=[{"text": "OK", "value": "ok"}],
        wait={
            "tenant_id": "slack-tests",
            "workflow_run_id": run_id,
            "workflow_id": "slack-prompted",
            "event_name": "approval",
            "timeout_seconds": 3600,
        },
    )

    prompt = post_prompt(prompts_hub, body)

    sent = sent_to_slack(slack, prompt)
    assert (sent["channel"], sent["thread_ts"]) == (ops, "1700000000.000100")
    assert "style" not in sent["blocks"][1]["elements"][0]
    assert (prompt["channel"], prompt["thread_ts"]) == (ops, "1700000000.000100")
    assert prompt["thread_key"] == f"slack:T0GIVEN001:{ops}:1700000000.000100"
    (wait,) = waits_of(prompts_hub, run_id)
    assert (wait["workflow_id"], wait["event_name"]) == ("slack-prompted", "approval")
    assert wait["expires_at"] == prompt["expires_at"] is not None
    ok = click(slack.messages[(ops, prompt["ts"])], ops, 0, "U0ALICE001")
    acknowledged(prompts_hub.interaction(ok))  # within the timeout
    data = resumed(prompts_hub, run_id, prompt["wait_id"])
    assert (data["user"], data["action"]["value"], data["thread_ts"]) == (
        "U0ALICE001",
        "ok",
        "1700000000.000100",  # the thread the prompt was posted in
    )


# answered once -----------------------------------------------------------------------------


def test_a_signed_click_resumes_the_run_once_and_later_clicks_are_refused(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    prompt = post_prompt(prompts_hub, prompt_body(channel, run_id))
    message = slack.messages[(channel, prompt["ts"])]
    approve = click(message, channel, 0, "U0ALICE001")
    reject = click(message, channel, 1, "U0BOB00001")
    again = click(message, channel, 0, "U0CAROL001")

    acknowledged(prompts_hub.interaction(approve))
    data = resumed(prompts_hub, run_id, prompt["wait_id"])
    acknowledged(prompts_hub.interaction(reject))  # another button, another user
    acknowledged(prompts_hub.interaction(again))  # the same button, another user
    acknowledged(prompts_hub.interaction(approve))  # Slack's retry of the first click

    assert (data["user"], data["user_name"], data["team"], data["channel"]) == (
        "U0ALICE001",
        "u0alice001",
        TEAM,
        channel,
    )
    assert data["action"]["value"] == "approve"  # the engine's value, not the token
    assert data["action"]["block_id"] == prompt["prompt_id"]
    assert data["ts"] == prompt["ts"]
    time.sleep(SETTLE_SECONDS)
    assert len(resumes_of(prompts_hub, run_id)) == 1
    (first,) = prompts_hub.logged(approve["trigger_id"], 2)[1:]
    assert (first["outcome"], first["resumed"]) == ("delivered", 1)
    assert prompts_hub.logged(approve["trigger_id"], 2)[0]["outcome"] == "duplicate"
    for later in (reject, again):
        (row,) = prompts_hub.logged(later["trigger_id"])
        assert (row["outcome"], row["resumed"], row["started"]) == ("refused", 0, 0), row
        assert row["reason"].startswith("PROMPT_ANSWERED: "), row
        assert f"{prompt['prompt_id']} was already answered by U0ALICE001" in row["reason"]
        assert prompts_hub.stored(later["trigger_id"]).status_code == 404
    assert prompts_hub.stored(approve["trigger_id"]).status_code == 200


def test_an_unsigned_click_is_refused_and_the_prompt_still_waits(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    prompt = post_prompt(prompts_hub, prompt_body(channel, run_id))
    forged = click(slack.messages[(channel, prompt["ts"])], channel, 0, "U0MALLORY1")

    for secret in ("not-the-signing-secret", None):
        answer = prompts_hub.interaction(forged, secret=secret)
        assert (answer.status_code, answer.json()["code"]) == (401, "INVALID_SIGNATURE")

    time.sleep(SETTLE_SECONDS)
    assert resumes_of(prompts_hub, run_id) == []
    assert waits_of(prompts_hub, run_id)[0]["status"] == "open"


def test_a_click_with_a_guessed_token_resumes_nothing(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    prompt = post_prompt(prompts_hub, prompt_body(channel, run_id))
    message = copy.deepcopy(slack.messages[(channel, prompt["ts"])])
    button = message["blocks"][1]["elements"][0]
    button["value"] = "slack-prompt:guessed:approve"  # signed, but no prompt's token
    guessed = click(message, channel, 0, "U0MALLORY1")
    # the prompt's token as a plain correlation key: its wait is the plugin's, not reached
    message["blocks"][1]["elements"][0]["value"] = prompt["token"]
    plain = click(message, channel, 0, "U0MALLORY1")

    acknowledged(prompts_hub.interaction(guessed))
    acknowledged(prompts_hub.interaction(plain))

    (row,) = prompts_hub.logged(guessed["trigger_id"])
    assert (row["outcome"], row["reason"]) == (
        "refused",
        "PROMPT_UNKNOWN: no prompt has this button's token",
    )
    (row,) = prompts_hub.logged(plain["trigger_id"])
    assert (row["outcome"], row["resumed"]) == ("filtered", 0), row
    assert resumes_of(prompts_hub, run_id) == []
    assert waits_of(prompts_hub, run_id)[0]["status"] == "open"


def test_a_click_after_the_timeout_is_refused(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    wait = {"tenant_id": "slack-tests", "workflow_run_id": run_id, "timeout_seconds": 0.5}
    prompt = post_prompt(prompts_hub, prompt_body(channel, run_id, wait=wait))
    late = click(slack.messages[(channel, prompt["ts"])], channel, 0, "U0ALICE001")

    (timed_out,) = wait_until(lambda: resumes_of(prompts_hub, run_id))
    acknowledged(prompts_hub.interaction(late))

    assert timed_out.body["interaction_id"] == prompt["wait_id"]
    assert timed_out.body["resume_data"] == {"status": "timeout"}
    (row,) = prompts_hub.logged(late["trigger_id"])
    assert (row["outcome"], row["reason"]) == (
        "refused",
        f"PROMPT_EXPIRED: prompt {prompt['prompt_id']} has expired",
    )
    time.sleep(SETTLE_SECONDS)
    assert len(resumes_of(prompts_hub, run_id)) == 1


# idempotent ---------------------------------------------------------------------------------


def test_a_repeated_prompt_is_posted_once(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    body = prompt_body(channel, run_id, idempotency_key=f"ask-{run_id}")
    asked = len(slack.calls)

    first = post_prompt(prompts_hub, body)
    again = post_prompt(prompts_hub, body, expect=200)

    assert again == first
    assert len(slack.posted(asked)) == 1
    assert len(waits_of(prompts_hub, run_id)) == 1


def test_a_prompt_sent_twice_at_once_leaves_one_message_and_one_wait(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    body = prompt_body(channel, run_id, idempotency_key=f"ask-{run_id}")
    asked = len(slack.calls)
    answers: list[httpx.Response] = []

    def send() -> None:
        with prompts_hub.gateway.client() as client:
            answers.append(client.post(PROMPTS, json=body))

    arrived = slack.arrived
    with slack.stalling():  # both requests post before either stores its prompt
        senders = [threading.Thread(target=send) for _ in range(2)]
        for sender in senders:
            sender.start()
        wait_until(lambda: slack.arrived == arrived + 2)
    for sender in senders:
        sender.join()

    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    prompt = answers[0].json()
    posted = [c.body["ts"] for c in slack.posted(asked)]
    assert len(posted) == 2
    deleted = [c for c in slack.since(asked) if c.method == "chat.delete"]
    assert [(c.sent, c.body["ok"]) for c in deleted] == [
        ({"channel": channel, "ts": next(ts for ts in posted if ts != prompt["ts"])}, True)
    ]
    assert [ts for ts in posted if (channel, ts) in slack.messages] == [prompt["ts"]]
    assert [w["wait_id"] for w in waits_of(prompts_hub, run_id)] == [prompt["wait_id"]]


# refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "why"),
    [
        (500, "SLACK_API_UNAVAILABLE", "answered 500"),
        (429, "SLACK_API_UNAVAILABLE", "rate limited"),
    ],
)
def test_slack_down_is_a_503_and_nothing_is_stored(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str, status: int, code: str, why: str
) -> None:
    run_id = f"run-{new_id()}"
    with slack.down(status):
        answer = prompts_hub.admin.post(PROMPTS, json=prompt_body(channel, run_id))

    assert (answer.status_code, answer.json()["code"]) == (503, code), answer.text
    assert why in answer.json()["message"]
    assert waits_of(prompts_hub, run_id) == []


def test_slack_refusing_the_message_or_token_stores_nothing(
    prompts_hub: Hub, slack: FakeSlackApi, channel: str
) -> None:
    run_id = f"run-{new_id()}"
    unknown = prompts_hub.admin.post(PROMPTS, json=prompt_body("C0NOWHERE1", run_id))
    with slack.revoked():
        revoked = prompts_hub.admin.post(PROMPTS, json=prompt_body(channel, run_id))
    with slack.stalling():
        stalled = prompts_hub.admin.post(PROMPTS, json=prompt_body(channel, run_id))

    assert (unknown.status_code, unknown.json()["code"]) == (502, "SLACK_API_ERROR")
    assert "chat.postMessage answered the error 'channel_not_found'" in unknown.json()["message"]
    assert (revoked.status_code, revoked.json()["code"]) == (503, "SLACK_TOKEN_REFUSED")
    assert "chat:write" in revoked.json()["message"] and BOT_TOKEN not in revoked.text
    assert (stalled.status_code, stalled.json()["code"]) == (503, "SLACK_API_UNAVAILABLE")
    assert "Timeout" in stalled.json()["message"]
    assert waits_of(prompts_hub, run_id) == []


def test_invalid_bodies_are_422_naming_the_field(prompts_hub: Hub, channel: str) -> None:
    run_id = f"run-{new_id()}"
    valid = prompt_body(channel, run_id)
    wait = valid["wait"]
    cases = [
        ({k: v for k, v in valid.items() if k != "buttons"}, "buttons"),
        ({**valid, "buttons": []}, "buttons"),
        ({**valid, "buttons": [{"text": "b", "value": "v"}] * 26}, "buttons"),
        (
            {**valid, "buttons": [{"text": "OK", "value": "ok", "style": "green"}]},
            "buttons.0.style",
        ),
        ({**valid, "buttons": [{"text": "x" * 76, "value": "ok"}]}, "buttons.0.text"),
        ({**valid, "buttons": [{"text": "OK", "value": "v" * 1901}]}, "buttons.0.value"),
        ({**valid, "channel": "general"}, "channel"),
        ({**valid, "channel": "#two words"}, "channel"),
        ({**valid, "text": ""}, "text"),
        ({**valid, "thread_ts": "yesterday"}, "thread_ts"),
        ({**valid, "workspace_id": "acme"}, "workspace_id"),
        ({**valid, "wait": {k: v for k, v in wait.items() if k != "tenant_id"}}, "wait.tenant_id"),
        ({**valid, "wait": {**wait, "timeout_seconds": 0}}, "wait.timeout_seconds"),
        ({**valid, "wait": {**wait, "workflow_run_id": "a\nb"}}, "wait.workflow_run_id"),
        ({**valid, "users": ["U0ALICE001"]}, "users"),
    ]
    for body, field in cases:
        answer = prompts_hub.admin.post(PROMPTS, json=body)
        assert answer.status_code == 422, (field, answer.text)
        assert field in [e["field"] for e in answer.json()["errors"]], (field, answer.text)
    unknown = prompts_hub.admin.post(PROMPTS, json={**valid, "channel": "#no-such-channel"})
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["errors"] == [
        {
            "field": "channel",
            "message": "no channel '#no-such-channel' the bot can see (conversations.list)",
        }
    ]
    not_json = prompts_hub.admin.post(
        PROMPTS, content=b"{", headers={"Content-Type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["code"]) == (400, "MALFORMED_BODY")
    assert waits_of(prompts_hub, run_id) == []


def test_prompts_need_the_admin_token(prompts_hub: Hub, channel: str) -> None:
    run_id = f"run-{new_id()}"
    for token in (None, "not-the-admin-token"):
        with prompts_hub.gateway.client(token) as client:
            answer = client.post(PROMPTS, json=prompt_body(channel, run_id))
        assert answer.status_code == 401, answer.text
    assert waits_of(prompts_hub, run_id) == []


def test_without_a_bot_token_prompts_are_refused(sqlite_hub: Hub) -> None:
    answer = sqlite_hub.admin.post(PROMPTS, json=prompt_body("C0ANYWHERE", f"run-{new_id()}"))

    assert (answer.status_code, answer.json()["code"]) == (409, "SLACK_BOT_TOKEN_MISSING")
    assert "HIGHWAY_SLACK_BOT_TOKEN" in answer.json()["message"]
