"""``POST /api/v1/slack/events`` (and the signature checks of every Slack route) end to end:
Slack's documented signature vector, refusals before anything is stored, url_verification,
retries and duplicates, the trigger data the engine starts with, stored requests and their
retention, workspaces, the answer that never waits on the engine, and thread replies
resuming a waiting run.

On SQLite and PostgreSQL (``hub``); the rotation of the gateway-wide secret and a gateway
with triggers' own secrets only have SQLite gateways of their own. Each test uses its own
workspaces, channels and event ids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import highway_triggers_slack
import pytest
from slack_hub import (
    COMMANDS,
    EVENTS,
    INTERACTIONS,
    SETTLE_SECONDS,
    SHARED_SECRET,
    Hub,
    answered,
    event_callback,
    fixture,
    fixture_json,
    new_id,
    resumed,
    serving,
    sign,
    slash_command,
    still_waiting,
    unique,
    wait_on,
)
from starlette.datastructures import Headers

from highway_triggers.plugin import HTTPError, SlackAuth
from highway_triggers.testing import SEALED, metric, running_engine, wait_until

VECTOR, STALE, ALTERED = fixture_json("signature-vector.json")["vectors"]
"""Slack's documented example, and the same signature too late and over another timestamp."""
RETIRED_SECRET = "retired-slack-signing-secret"
OWN_SECRET = "the-slack-apps-own-signing-secret"


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A SQLite gateway in a rotation of its signing secret: the current one is
    ``SHARED_SECRET``; ``RETIRED_SECRET`` and the documented vector's secret are previous
    ones (``HIGHWAY_SLACK_PREVIOUS_SIGNING_SECRETS``)."""
    tmp_path = tmp_path_factory.mktemp("slack-rotating")
    env = {
        "SIGNING_SECRET": SHARED_SECRET,
        "PREVIOUS_SIGNING_SECRETS": json.dumps([RETIRED_SECRET, VECTOR["signing_secret"]]),
    }
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    with running_engine() as (engine, url), serving(database, tmp_path, engine, url, env) as hub:
        yield hub


@pytest.fixture(scope="module")
def own_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A SQLite gateway without a gateway-wide signing secret: only triggers' own secrets."""
    tmp_path = tmp_path_factory.mktemp("slack-own")
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    with running_engine() as (engine, url), serving(database, tmp_path, engine, url, {}) as hub:
        yield hub


# signatures -----------------------------------------------------------------------------------


def test_the_documented_vector_verifies_with_the_slack_auth_the_plugin_uses() -> None:
    body = fixture("slash_command.form.txt")  # the vector's body, byte for byte
    assert body.decode() == VECTOR["body"]
    signed = sign(body, VECTOR["signing_secret"], VECTOR["timestamp"])
    assert signed["X-Slack-Signature"] == VECTOR["expected_signature"]  # as Slack signs

    auth = SlackAuth(type="slack", signing_secret=VECTOR["signing_secret"])
    check = auth.check(lambda plain: plain, 300)
    for vector in (VECTOR, STALE, ALTERED):
        headers = Headers(
            {
                "x-slack-request-timestamp": vector["timestamp"],
                "x-slack-signature": vector["expected_signature"],
            }
        )
        now = vector.get("valid_when_now", vector.get("now"))
        if vector["valid"]:
            check(headers, body, now)
            continue
        with pytest.raises(HTTPError) as refusal:
            check(headers, body, now)
        assert refusal.value.status == 401


def test_the_documented_request_is_refused_late_and_taken_signed_now(rotating: Hub) -> None:
    fields = dict(item.split("=", 1) for item in VECTOR["body"].split("&"))
    workflow = rotating.deploy(
        {"workspace_id": fields["team_id"], "commands": ["/webhook-collect"]}
    )
    body = fixture("slash_command.form.txt")

    late = rotating.command(  # Slack's own request of 2018, exactly: past the 5 minutes
        body,
        secret=None,
        X_Slack_Request_Timestamp=VECTOR["timestamp"],
        X_Slack_Signature=VECTOR["expected_signature"],
    )
    rotating.refused(late, 401, "TIMESTAMP_OUT_OF_RANGE", fields["trigger_id"])

    answer = rotating.command(body, secret=VECTOR["signing_secret"])  # a previous secret
    assert answer.status_code == 200, answer.text
    text = "/webhook-collect: started 1 run(s), resumed 0"
    assert answer.json() == {"response_type": "ephemeral", "text": text}
    assert rotating.started(workflow) == [fields["trigger_id"]]


def test_refused_requests_start_and_store_nothing(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})
    invalid = metric(hub.admin, "highway_slack_refused_total", code="INVALID_SIGNATURE")
    now = int(time.time())

    def refuse(code: str, **options: Any) -> None:
        payload = event_callback(team=team)
        body = options.pop("body", json.dumps(payload).encode())
        hub.refused(hub.post(EVENTS, body, **options), 401, code, payload["event_id"])

    refuse("INVALID_SIGNATURE", secret="a secret Slack never gave")
    refuse("INVALID_SIGNATURE", secret=None)
    refuse("INVALID_SIGNATURE", secret=None, X_Slack_Signature="v0=" + "0" * 64)
    refuse("TIMESTAMP_OUT_OF_RANGE", timestamp=str(now - 360))  # past the 300 s window
    refuse("TIMESTAMP_OUT_OF_RANGE", timestamp=str(now + 360))
    refuse("INVALID_SIGNATURE", timestamp="yesterday")
    other = event_callback(team=team)  # the signature of another body
    refuse("INVALID_SIGNATURE", secret=None, **sign(json.dumps(other).encode(), SHARED_SECRET))
    assert metric(hub.admin, "highway_slack_refused_total", code="INVALID_SIGNATURE") == invalid + 5

    for path, body in [
        (EVENTS, b"\x00garbage{"),  # the signature first, not 400
        (INTERACTIONS, b"payload=%7B"),
        (COMMANDS, slash_command(team, "/deploy")),
    ]:
        answer = hub.post(path, body, secret=None)
        assert (answer.status_code, answer.json()["code"]) == (401, "INVALID_SIGNATURE"), path

    accepted = event_callback(team=team)
    answered(hub.event(accepted), delivered_to=1)
    assert hub.started(workflow) == [accepted["event_id"]]


def test_the_gateway_wide_secret_and_its_previous_ones_are_taken(rotating: Hub) -> None:
    team = unique("T")
    workflow = rotating.deploy({"workspace_id": team})
    current, previous = event_callback(team=team), event_callback(team=team)
    unknown = event_callback(team=team)

    answered(rotating.event(current), delivered_to=1)
    answered(rotating.event(previous, secret=RETIRED_SECRET), delivered_to=1)
    answer = rotating.event(unknown, secret="never-configured")
    rotating.refused(answer, 401, "INVALID_SIGNATURE", unknown["event_id"])

    assert sorted(rotating.started(workflow, 2)) == sorted(
        [current["event_id"], previous["event_id"]]
    )


def test_a_trigger_with_its_own_secret_takes_only_requests_signed_with_it(hub: Hub) -> None:
    team = unique("T")
    own = hub.deploy({"workspace_id": team, "signing_secret": OWN_SECRET})
    rotated = hub.deploy({"workspace_id": team, "signing_secrets": ["new-one", OWN_SECRET]})
    shared = hub.deploy({"workspace_id": team})
    by_own, by_shared, by_new = (event_callback(team=team) for _ in range(3))

    answered(hub.event(by_own, secret=OWN_SECRET), delivered_to=2)
    answered(hub.event(by_shared), delivered_to=1)
    answered(hub.event(by_new, secret="new-one"), delivered_to=1)

    assert hub.started(own) == [by_own["event_id"]]
    assert sorted(hub.started(rotated, 2)) == sorted([by_own["event_id"], by_new["event_id"]])
    assert hub.started(shared) == [by_shared["event_id"]]
    stored = hub.admin.get(f"/api/v1/deployment/workflows/{rotated}")
    (trigger,) = stored.json()["triggers"]
    assert all(s.startswith(SEALED) for s in trigger["config"]["signing_secrets"])
    assert OWN_SECRET not in stored.text and "new-one" not in stored.text


def test_triggers_own_secrets_verify_without_a_gateway_wide_one(own_only: Hub) -> None:
    team, elsewhere = unique("T"), unique("T")
    workflow = own_only.deploy({"workspace_id": team, "signing_secret": OWN_SECRET})
    challenge = fixture_json("url_verification.json")

    answer = own_only.event(challenge, secret=OWN_SECRET)  # names no workspace
    assert (answer.status_code, answer.json()) == (200, {"challenge": challenge["challenge"]})
    unsigned = own_only.event(challenge, secret="not the app's")
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "INVALID_SIGNATURE")

    taken, other_workspace = event_callback(team=team), event_callback(team=elsewhere)
    answered(own_only.event(taken, secret=OWN_SECRET), delivered_to=1)
    # the app installed in a workspace no trigger watches: verified, answered 200, filtered
    answered(own_only.event(other_workspace, secret=OWN_SECRET), delivered_to=0)
    (row,) = own_only.logged(other_workspace["event_id"])
    assert row["outcome"] == "filtered"
    assert f"no SLACK trigger for '{elsewhere}'" in row["reason"], row
    assert own_only.started(workflow) == [taken["event_id"]]


def test_without_any_signing_secret_a_trigger_is_refused(own_only: Hub) -> None:
    answer = own_only.admin.post(
        "/api/v1/deployment/workflows/slack-no-secret/deploy",
        json={"triggers": [{"type": "SLACK", "config": {"workspace_id": unique("T")}}]},
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "triggers[0].config.signing_secret"
    assert "HIGHWAY_SLACK_SIGNING_SECRET" in error["message"]


# url_verification and other requests that are no event ---------------------------------------


def test_url_verification_is_answered_with_its_challenge(hub: Hub) -> None:
    challenge = fixture_json("url_verification.json")
    before = metric(
        hub.admin, "highway_slack_deliveries_total", type="url_verification", outcome="answered"
    )

    answer = hub.post(EVENTS, fixture("url_verification.json"))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"challenge": challenge["challenge"]}
    after = metric(
        hub.admin, "highway_slack_deliveries_total", type="url_verification", outcome="answered"
    )
    assert after == before + 1
    unsigned = hub.post(EVENTS, fixture("url_verification.json"), secret=None)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "INVALID_SIGNATURE")


def test_a_request_that_is_no_event_is_answered_and_starts_nothing(hub: Hub) -> None:
    team = unique("T")
    # even a trigger naming the type: only an event_callback is an event
    workflow = hub.deploy({"workspace_id": team, "event_types": ["message", "app_rate_limited"]})
    limited = {
        "token": "x",
        "team_id": team,
        "minute_rate_limited": 1518467820,
        "api_app_id": "A1",
        "type": "app_rate_limited",
    }

    answer = hub.event(limited)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ok",
        "message": "app_rate_limited: not an event_callback, starts nothing",
    }
    time.sleep(SETTLE_SECONDS)
    assert hub.engine.starts(workflow) == []


# retries and duplicates -----------------------------------------------------------------------


def test_a_retry_of_a_taken_event_is_a_duplicate_and_starts_nothing(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})
    payload = event_callback(team=team)
    retries = fixture_json("retry-headers.json")["examples"]
    duplicates = metric(
        hub.admin, "highway_slack_deliveries_total", type="message", outcome="duplicate"
    )

    first = answered(hub.event(payload), delivered_to=1)
    for headers in retries:  # Slack's three retries, with the same event_id
        again = hub.event(payload, **{k.replace("-", "_"): v for k, v in headers.items()})
        assert again.status_code == 200, again.text
        assert (again.json()["duplicate"], again.json()["delivered_to"]) == (True, 0)
        assert again.json()["event_id"] == first["event_id"]

    assert hub.started(workflow) == [payload["event_id"]]
    rows = hub.logged(payload["event_id"], 4)
    assert [row["outcome"] for row in rows] == ["duplicate"] * 3 + ["delivered"]
    assert {row["duplicate_of"] for row in rows[:3]} == {first["event_id"]}
    after = metric(hub.admin, "highway_slack_deliveries_total", type="message", outcome="duplicate")
    assert after == duplicates + 3
    assert hub.stored(payload["event_id"]).json()["retry_num"] is None  # the first attempt's


def test_a_first_attempt_that_arrives_as_a_retry_is_taken(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})
    payload = event_callback(team=team)  # the original never reached the gateway

    retry = hub.event(payload, X_Slack_Retry_Num="2", X_Slack_Retry_Reason="http_timeout")

    answered(retry, delivered_to=1)
    assert hub.started(workflow) == [payload["event_id"]]
    assert hub.stored(payload["event_id"]).json()["retry_num"] == 2


def test_concurrent_deliveries_of_one_event_start_one_run(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})
    body = json.dumps(event_callback(team=team)).encode()

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: hub.post(EVENTS, body), range(5)))

    assert [answer.status_code for answer in answers] == [200] * 5
    assert sorted(answer.json()["delivered_to"] for answer in answers) == [0, 0, 0, 0, 1]
    assert len(hub.started(workflow)) == 1


# the answer never waits on the engine ---------------------------------------------------------


def test_the_answer_is_200_at_once_while_the_engine_is_down(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})
    payload = event_callback(team=team)

    with hub.engine.down():
        began = time.monotonic()
        answer = hub.event(payload)
        took = time.monotonic() - began
        answered(answer, delivered_to=1)  # committed: the run starts once the engine is back
        assert took < 1.0
        assert wait_until(lambda: hub.engine.starts(workflow))  # tried: the engine is down

    def started_once_back() -> list[Any]:
        accepted = hub.engine.accepted().values()
        return [c for c in accepted if c.path == f"/v2/workflows/{workflow}/execute"]

    (call,) = wait_until(started_once_back)
    assert call.body["trigger_data"]["delivery_id"] == payload["event_id"]


# trigger data, stored requests, workspaces ----------------------------------------------------


def test_a_message_starts_with_the_documented_trigger_data_and_is_stored_as_sent(hub: Hub) -> None:
    team, channel = unique("T"), unique("C")
    workflow = hub.deploy({"workspace_id": team})
    payload = event_callback(team=team, channel=channel, text='café ☕ "quoted"')
    body = json.dumps(payload, ensure_ascii=False, indent=1).encode()  # raw text kept as sent

    answered(hub.post(EVENTS, body), delivered_to=1)

    (call,) = hub.starts(workflow)
    assert call.body["trigger_type"] == "SLACK"
    assert call.body["trigger_data"] == {
        "kind": "event",
        "type": "message",
        "subtype": None,
        "delivery_id": payload["event_id"],
        "team": team,
        "channel": channel,
        "user": "U123ABC456",
        "user_name": None,
        "bot_id": None,
        "text": 'café ☕ "quoted"',
        "ts": "1355517523.000005",
        "thread_ts": None,
        "command": None,
        "action": None,
        "payload": payload,
    }
    found = hub.stored(payload["event_id"])
    assert found.status_code == 200, found.text
    row = found.json()
    processed_at = datetime.fromisoformat(row.pop("processed_at"))
    assert abs(datetime.now(UTC) - processed_at) < timedelta(minutes=1)
    assert row == {
        "delivery_id": payload["event_id"],
        "kind": "event",
        "type": "message",
        "team_id": team,
        "channel_id": channel,
        "user_id": "U123ABC456",
        "retry_num": None,
        "payload": body.decode(),  # byte for byte
    }


def test_a_trigger_without_workspace_takes_every_workspace(hub: Hub) -> None:
    channel = unique("C")  # the channel keeps this test's triggers apart from the others'
    everywhere = hub.deploy({"channels": [channel]})
    one = unique("T")
    only_one = hub.deploy({"workspace_id": one, "channels": [channel]})
    in_one, in_other = (
        event_callback(team=one, channel=channel),
        event_callback(team=unique("T"), channel=channel),
    )

    try:
        answered(hub.event(in_one), delivered_to=2)
        answered(hub.event(in_other), delivered_to=1)
        both = sorted([in_one["event_id"], in_other["event_id"]])
        assert sorted(hub.started(everywhere, 2)) == both
        assert hub.started(only_one) == [in_one["event_id"]]
    finally:  # a trigger of every workspace is a candidate of the module's other tests
        hub.admin.post(f"/api/v1/deployment/workflows/{everywhere}/undeploy")


def test_a_filtered_event_is_logged_with_the_reason_and_kept(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})  # messages only
    sample = "highway_slack_deliveries_total"
    before = metric(hub.admin, sample, type="reaction_added", outcome="filtered")
    reaction = event_callback("event_callback.reaction_added.json", team=team)

    answered(hub.event(reaction), delivered_to=0)

    assert metric(hub.admin, sample, type="reaction_added", outcome="filtered") == before + 1
    (row,) = hub.logged(reaction["event_id"])
    assert (row["outcome"], row["started"]) == ("filtered", 0)
    assert "type 'reaction_added' is not in event_types ['message']" in row["reason"], row
    assert [(t["workflow_id"], t["matched"]) for t in row["targets"]] == [(workflow, False)]
    assert hub.stored(reaction["event_id"]).json()["type"] == "reaction_added"  # verified: kept


def test_stored_requests_past_the_retention_are_pruned(hub: Hub) -> None:
    team = unique("T")
    hub.deploy({"workspace_id": team})
    older, newer = event_callback(team=team), event_callback(team=team)
    answered(hub.event(older), delivered_to=1)
    answered(hub.event(newer), delivered_to=1)
    store = highway_triggers_slack.api_of(hub.gateway.context).store

    newer_at = datetime.fromisoformat(hub.stored(newer["event_id"]).json()["processed_at"])
    assert hub.gateway.run(store.prune(newer_at)) >= 1
    assert hub.stored(older["event_id"]).status_code == 404
    assert hub.stored(newer["event_id"]).status_code == 200

    assert hub.gateway.run(store.prune(datetime.now(UTC) + timedelta(hours=1))) >= 1
    assert hub.stored(newer["event_id"]).status_code == 404


# hostile input --------------------------------------------------------------------------------


def test_malformed_signed_events_are_400(hub: Hub) -> None:
    team = unique("T")
    workflow = hub.deploy({"workspace_id": team})
    malformed = metric(hub.admin, "highway_slack_refused_total", code="MALFORMED_BODY")
    cases = [
        (b'{"type": "event_callback", ', "MALFORMED_BODY"),
        (b"[1, 2]", "MALFORMED_BODY"),
        (b'{"type": "event_callback", "type": "x"}', "UNSUPPORTED_JSON"),
        (
            json.dumps(event_callback(team=team, event_id="Ev\u00e91")).encode(),
            "INVALID_DELIVERY_ID",
        ),
        (json.dumps({**event_callback(team=team), "event_id": None}).encode(), "MISSING_FIELD"),
        (json.dumps({"type": "url_verification", "challenge": 7}).encode(), "MISSING_FIELD"),
    ]
    for body, code in cases:
        answer = hub.post(EVENTS, body)
        assert (answer.status_code, answer.json().get("code")) == (400, code), (body, answer.text)
    assert metric(hub.admin, "highway_slack_refused_total", code="MALFORMED_BODY") == malformed + 2

    huge = json.dumps({**event_callback(team=team), "pad": "x" * (1024 * 1024)}).encode()
    answer = hub.post(EVENTS, huge)
    assert (answer.status_code, answer.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    time.sleep(SETTLE_SECONDS)
    assert hub.engine.starts(workflow) == []


# threads: a reply resumes the run waiting on it -----------------------------------------------


def test_a_thread_reply_resumes_the_run_waiting_on_the_thread(hub: Hub) -> None:
    team, channel, run_id = unique("T"), unique("C"), f"run-{new_id()}"
    thread_ts = "1700000000.000100"
    wait_id = wait_on(hub, f"slack:{team}:{channel}:{thread_ts}", run_id)
    reply = event_callback(
        team=team,
        channel=channel,
        text="approved, ship it",
        ts="1700000042.000200",
        thread_ts=thread_ts,
        parent_user_id="U0BOT00001",
    )

    answered(hub.event(reply), delivered_to=1)

    data = resumed(hub, run_id, wait_id)
    assert (data["kind"], data["type"], data["delivery_id"]) == (
        "event",
        "message",
        reply["event_id"],
    )
    assert (data["team"], data["channel"], data["user"]) == (team, channel, "U123ABC456")
    assert (data["text"], data["thread_ts"]) == ("approved, ship it", thread_ts)
    assert data["payload"] == reply
    (row,) = hub.logged(reply["event_id"])
    assert (row["outcome"], row["started"], row["resumed"]) == ("delivered", 0, 1)
    assert [(t["wait_id"], t["workflow_run_id"]) for t in row["targets"]] == [(wait_id, run_id)]


def test_the_message_replied_notice_resumes_the_run_waiting_on_the_thread(hub: Hub) -> None:
    team, channel, run_id = unique("T"), unique("C"), f"run-{new_id()}"
    notice = event_callback("event_callback.message.thread_reply.json", team=team, channel=channel)
    thread_ts = notice["event"]["message"]["thread_ts"]
    wait_id = wait_on(hub, f"slack:{team}:{channel}:{thread_ts}", run_id)

    answered(hub.event(notice), delivered_to=1)

    data = resumed(hub, run_id, wait_id)
    assert (data["subtype"], data["thread_ts"]) == ("message_replied", thread_ts)
    assert data["user"] == "U2222222"  # the reply's author, not the parent's
    assert data["payload"] == notice


def test_the_parent_an_edit_or_a_bots_reply_resume_nothing(hub: Hub) -> None:
    team, channel, run_id = unique("T"), unique("C"), f"run-{new_id()}"
    thread_ts = "1700000000.000100"
    wait_id = wait_on(hub, f"slack:{team}:{channel}:{thread_ts}", run_id)
    in_thread = {"channel": channel, "thread_ts": thread_ts}
    parent = event_callback(team=team, ts=thread_ts, **in_thread)
    bot = event_callback(
        "event_callback.message.bot_message.json", team=team, ts="1700000001.1", **in_thread
    )
    edit = event_callback("event_callback.message.message_changed.json", team=team, channel=channel)
    edit["event"]["message"]["thread_ts"] = thread_ts

    for payload in (parent, bot, edit):
        answered(hub.event(payload), delivered_to=0)

    still_waiting(hub, wait_id)
