"""Channel names (``#deploys``) in a SLACK trigger's ``channels`` are resolved to ids at deploy
through Slack's Web API (``conversations.list``, page by page), here a fake of it on loopback
(:mod:`slack_web`): stored as ids when found; 422 naming the field when the bot sees no such
channel; 503 when Slack cannot be asked or refuses the token; on a refusal nothing is stored
and a previous deployment stays as it was."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_hub import SHARED_SECRET, Hub, answered, event_callback, serving, unique
from slack_web import FakeSlackApi, serving_api

from highway_triggers.testing import error_body, running_engine

BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
API_TIMEOUT = 1.0
"""``HIGHWAY_SLACK_API_TIMEOUT_SECONDS`` of the test gateway."""
WORKSPACE_CHANNELS = 450
"""Channels of the fake workspace: three pages of 200."""


@pytest.fixture(scope="module")
def slack_api() -> Iterator[tuple[FakeSlackApi, str]]:
    with serving_api(BOT_TOKEN) as (api, url):
        for number in range(WORKSPACE_CHANNELS):
            api.create(f"team-{number:03d}")
        yield api, url


@pytest.fixture(scope="module")
def slack(slack_api: tuple[FakeSlackApi, str]) -> FakeSlackApi:
    return slack_api[0]


@pytest.fixture(scope="module")
def names_hub(
    slack_api: tuple[FakeSlackApi, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("slack-names")
    env = {
        "SIGNING_SECRET": SHARED_SECRET,
        "BOT_TOKEN": BOT_TOKEN,
        "API_URL": slack_api[1],
        "API_TIMEOUT_SECONDS": str(API_TIMEOUT),
    }
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    with running_engine() as (engine, url), serving(database, tmp_path, engine, url, env) as hub:
        yield hub


def deploy(hub: Hub, workflow_id: str, config: dict[str, Any]) -> httpx.Response:
    return hub.admin.post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy",
        json={"triggers": [{"type": "SLACK", "config": config}]},
    )


def channels_of(hub: Hub, workflow_id: str) -> list[str]:
    """The stored ``channels`` of the workflow's one trigger."""
    answer = hub.admin.get(f"/api/v1/deployment/workflows/{workflow_id}")
    (trigger,) = answer.json()["triggers"]
    found: list[str] = trigger["config"]["channels"]
    return found


def status_of(hub: Hub, workflow_id: str) -> str:
    found: str = hub.admin.get(f"/api/v1/deployment/workflows/{workflow_id}").json()["status"]
    return found


# resolved ------------------------------------------------------------------------------------


def test_names_are_resolved_to_ids_page_by_page(names_hub: Hub, slack: FakeSlackApi) -> None:
    early, late = slack.create("deploys"), slack.create("zz-ops")  # on the first, the last page
    asked = len(slack.calls)
    team = unique("T")
    config = {"workspace_id": team, "channels": ["#deploys", "C0GIVEN01", "#ZZ-Ops"]}

    workflow = names_hub.deploy(config)

    assert channels_of(names_hub, workflow) == [early, "C0GIVEN01", late]
    calls = slack.since(asked)
    assert [c.status for c in calls] == [200, 200, 200]
    assert {c.token for c in calls} == {BOT_TOKEN}
    assert [c.params.get("cursor") for c in calls] == [
        None,
        calls[0].body["response_metadata"]["next_cursor"],
        calls[1].body["response_metadata"]["next_cursor"],
    ]
    assert calls[0].params == {
        "types": "public_channel,private_channel",
        "exclude_archived": "true",
        "limit": "200",
    }
    assert calls[2].body["response_metadata"]["next_cursor"] == ""
    in_late = event_callback(team=team, channel=late)
    answered(names_hub.event(in_late), delivered_to=1)
    assert names_hub.started(workflow) == [in_late["event_id"]]


def test_ids_alone_ask_nothing_and_a_found_name_stops_the_paging(
    names_hub: Hub, slack: FakeSlackApi
) -> None:
    asked = len(slack.calls)
    names_hub.deploy({"channels": ["C0GIVEN01", "G0PRIVATE1"], "workspace_id": unique("T")})
    assert slack.since(asked) == []

    first = min(slack.channels.items(), key=lambda item: item[1])  # on the first page
    workflow = names_hub.deploy({"channels": [f"#{first[0]}"], "workspace_id": unique("T")})
    assert channels_of(names_hub, workflow) == [first[1]]
    assert len(slack.since(asked)) == 1


def test_a_stand_alone_trigger_resolves_its_names_too(names_hub: Hub, slack: FakeSlackApi) -> None:
    channel_id = slack.create("standalone")
    created = names_hub.admin.post(
        "/api/v1/triggers",
        json={
            "type": "SLACK",
            "workflow_id": "slack-standalone",
            "config": {"channels": ["#standalone"]},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["config"]["channels"] == [channel_id]


# refused -------------------------------------------------------------------------------------


def test_an_unknown_name_is_refused_naming_it_and_nothing_is_stored(
    names_hub: Hub, slack: FakeSlackApi
) -> None:
    known = slack.create("known")
    workflow = names_hub.deploy({"channels": ["#known"], "workspace_id": unique("T")})

    first = deploy(names_hub, "slack-unknown-first", {"channels": ["#known", "#nope"]})
    again = deploy(names_hub, workflow, {"channels": ["#nowhere", "#known"]})

    body = error_body(first, 422, "VALIDATION_ERROR")
    assert [(e["field"], e["message"]) for e in body["errors"]] == [
        ("triggers[0].config.channels.1", "no channel '#nope' the bot can see (conversations.list)")
    ]
    (error,) = error_body(again, 422, "VALIDATION_ERROR")["errors"]
    assert error["field"] == "triggers[0].config.channels.0"
    assert status_of(names_hub, "slack-unknown-first") == "UNDEPLOYED"
    assert channels_of(names_hub, workflow) == [known]  # the previous deployment stays


@pytest.mark.parametrize(
    ("status", "why"), [(500, "answered 500"), (502, "answered 502"), (429, "rate limited")]
)
def test_slack_failing_refuses_the_deploy_with_503(
    names_hub: Hub, slack: FakeSlackApi, status: int, why: str
) -> None:
    slack.create(f"down-{status}")
    workflow = names_hub.deploy({"channels": [f"#down-{status}"], "workspace_id": unique("T")})
    before = names_hub.admin.get(f"/api/v1/deployment/workflows/{workflow}").json()["triggers"]

    with slack.down(status):
        first = deploy(names_hub, f"slack-down-{status}", {"channels": [f"#down-{status}"]})
        again = deploy(names_hub, workflow, {"channels": [f"#down-{status}"], "users": ["U0NE1"]})

    for answer in (first, again):
        assert why in error_body(answer, 503, "SLACK_API_UNAVAILABLE")["message"]
    assert status_of(names_hub, f"slack-down-{status}") == "UNDEPLOYED"
    after = names_hub.admin.get(f"/api/v1/deployment/workflows/{workflow}").json()["triggers"]
    assert after == before


def test_slack_not_answering_within_the_timeout_refuses_the_deploy(
    names_hub: Hub, slack: FakeSlackApi
) -> None:
    slack.create("stalled")
    with slack.stalling():
        began = time.monotonic()
        answer = deploy(names_hub, "slack-stalled", {"channels": ["#stalled"]})
        took = time.monotonic() - began

    body = error_body(answer, 503, "SLACK_API_UNAVAILABLE")
    assert "Timeout" in body["message"]
    assert API_TIMEOUT * 0.9 <= took < API_TIMEOUT + 3
    assert status_of(names_hub, "slack-stalled") == "UNDEPLOYED"


def test_a_token_slack_refuses_is_a_503_naming_the_setting(
    names_hub: Hub, slack: FakeSlackApi
) -> None:
    slack.create("revoked")
    asked = len(slack.calls)
    with slack.revoked():
        answer = deploy(names_hub, "slack-revoked", {"channels": ["#revoked"]})

    body = error_body(answer, 503, "SLACK_TOKEN_REFUSED")
    assert "HIGHWAY_SLACK_BOT_TOKEN" in body["message"] and "invalid_auth" in body["message"]
    assert BOT_TOKEN not in answer.text
    assert status_of(names_hub, "slack-revoked") == "UNDEPLOYED"
    # Slack refused the deploy's call (other gateways of the session share the fake, and
    # may call it meanwhile: the refusal need not be the last call)
    refused = {"ok": False, "error": "invalid_auth"}
    assert refused in [call.body for call in slack.since(asked)]
