"""``POST /api/v1/github/webhook`` end to end: signatures (GitHub's documented vector), a
repository's own secrets and the gateway-wide ones during a rotation, redeliveries, ping,
deliveries no trigger takes, the trigger data the engine starts with, stored deliveries
and their retention, and runs resumed by later events of a pull request or an issue.

On SQLite and PostgreSQL (``hub``); the gateway-wide rotation has a SQLite gateway of
its own (``rotating``). Each test uses its own repositories and delivery ids.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import highway_triggers_github
import httpx
import pytest
from github_hub import SHARED_SECRET, WEBHOOK, Hub, fixture, serving, sign

from highway_triggers.testing import (
    environment,
    metric,
    register_wait,
    resumed_once,
    running_engine,
    wait_until,
)

VECTOR, TAMPERED, _ = json.loads(fixture("signature-vector"))["vectors"]
"""GitHub's documented example, and the same header on a tampered body."""
RETIRED_SECRET = "retired-gateway-wide-secret"
SETTLE_SECONDS = 0.3
"""Time for a start or resume that should not happen to show up."""


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A SQLite gateway in a rotation of its gateway-wide secret: the current one is
    ``SHARED_SECRET``; ``RETIRED_SECRET`` and the documented vector's secret are previous
    ones (``HIGHWAY_GITHUB_PREVIOUS_WEBHOOK_SECRETS``, set only while the gateway starts,
    which reads it once: the module's other gateways do not see it)."""
    tmp_path = tmp_path_factory.mktemp("github-rotating")
    previous = json.dumps([RETIRED_SECRET, VECTOR["secret"]])
    with running_engine() as (engine, engine_url), ExitStack() as running:
        with environment({"HIGHWAY_GITHUB_PREVIOUS_WEBHOOK_SECRETS": previous}):
            database = f"sqlite:///{tmp_path / 'gateway.db'}"
            hub = running.enter_context(serving(database, tmp_path, engine, engine_url))
        yield hub


def moved(name: str, repository: str) -> bytes:
    """A fixture payload byte for byte, but for its repository's full name (in its URLs too)."""
    body = fixture(name)
    full_name: str = json.loads(body)["repository"]["full_name"]
    return body.replace(full_name.encode(), repository.encode())


def comment_on_pull_request(repository: str) -> bytes:
    """An ``issue_comment`` (``created``) on pull request #1, built from ``issues.opened``:
    GitHub sends a comment on a pull request with the issue's ``pull_request`` set."""
    payload = json.loads(moved("issues.opened", repository))
    number = payload["issue"]["number"]
    payload["issue"]["pull_request"] = {
        "url": f"https://api.github.com/repos/{repository}/pulls/{number}",
        "html_url": f"https://github.com/{repository}/pull/{number}",
    }
    payload["action"] = "created"
    payload["comment"] = {"id": 1_001, "body": "LGTM", "user": payload["sender"]}
    return json.dumps(payload).encode()


def new_id() -> str:
    return str(uuid.uuid4())


def answered(answer: httpx.Response, delivered_to: int) -> dict[str, Any]:
    """The 202 body of a delivery routed (not a redelivery) to ``delivered_to`` runs."""
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["delivered_to"], body["duplicate"]) == (delivered_to, False), body
    return body


def start_data(hub: Hub, workflow_id: str) -> dict[str, Any]:
    """The trigger data of ``workflow_id``'s start (the only one)."""
    (call,) = hub.starts(workflow_id)
    assert call.body["trigger_type"] == "GITHUB"
    data: dict[str, Any] = call.body["trigger_data"]
    return data


def wait_on(hub: Hub, correlation_key: str, run_id: str) -> str:
    """Register a run waiting on ``correlation_key``, as an engine does; the wait's id."""
    return register_wait(
        hub.admin, correlation_key, run_id, tenant_id="github-tests", event_name="github"
    )


def resumed(hub: Hub, run_id: str, wait_id: str) -> dict[str, Any]:
    """The resume data of ``run_id``'s one resume (for ``wait_id``); the wait is consumed."""
    return resumed_once(hub.engine, hub.admin, run_id, wait_id, SETTLE_SECONDS)


# signatures -----------------------------------------------------------------------------------


def test_the_documented_vector_verifies_and_its_tampered_body_does_not(rotating: Hub) -> None:
    payload = VECTOR["payload"].encode()
    assert sign(payload, VECTOR["secret"]) == VECTOR["expected_header"]  # as GitHub signs

    verified = new_id()  # signed, so refused only now as not JSON
    answer = rotating.deliver(
        "push",
        payload,
        secret=None,
        delivery_id=verified,
        X_Hub_Signature_256=VECTOR["expected_header"],
    )
    rotating.refused(answer, 400, "MALFORMED_BODY", verified)

    tampered = new_id()
    answer = rotating.deliver(
        "push",
        TAMPERED["payload"].encode(),
        secret=None,
        delivery_id=tampered,
        X_Hub_Signature_256=TAMPERED["expected_header"],
    )
    rotating.refused(answer, 401, "INVALID_SIGNATURE", tampered)


def test_refused_deliveries_start_and_store_nothing(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository})
    body = moved("push.added-modified", repository)
    missing_headers = metric(hub.admin, "highway_github_refused_total", code="MISSING_HEADER")

    wrong_secret, unsigned, other_secret, garbage = new_id(), new_id(), new_id(), new_id()
    answer = hub.deliver("push", body, secret="wrong secret", delivery_id=wrong_secret)
    hub.refused(answer, 401, "INVALID_SIGNATURE", wrong_secret)
    hub.refused(
        hub.deliver("push", body, secret=None, delivery_id=unsigned),
        401,
        "INVALID_SIGNATURE",
        unsigned,
    )
    answer = hub.deliver(  # the documented vector, under a secret that is not its own
        "push",
        VECTOR["payload"].encode(),
        secret=None,
        delivery_id=other_secret,
        X_Hub_Signature_256=VECTOR["expected_header"],
    )
    hub.refused(answer, 401, "INVALID_SIGNATURE", other_secret)
    answer = hub.deliver("push", b"\x00garbage{", secret=None, delivery_id=garbage)
    hub.refused(answer, 401, "INVALID_SIGNATURE", garbage)  # the signature first, not 400

    signed = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": new_id(),
        "X-Hub-Signature-256": sign(body, SHARED_SECRET),
    }
    no_event = {name: value for name, value in signed.items() if name != "X-GitHub-Event"}
    answer = hub.sender.post(WEBHOOK, content=body, headers=no_event)
    hub.refused(answer, 400, "MISSING_HEADER", signed["X-GitHub-Delivery"])
    no_delivery = {name: value for name, value in signed.items() if name != "X-GitHub-Delivery"}
    answer = hub.sender.post(WEBHOOK, content=body, headers=no_delivery)
    assert (answer.status_code, answer.json()["code"]) == (400, "MISSING_HEADER"), answer.text
    assert "X-GitHub-Delivery" in answer.json()["message"]
    after = metric(hub.admin, "highway_github_refused_total", code="MISSING_HEADER")
    assert after == missing_headers + 2

    accepted = new_id()
    answered(hub.deliver("push", body, delivery_id=accepted), delivered_to=1)
    assert hub.started(workflow) == [accepted]


# secrets --------------------------------------------------------------------------------------


def test_a_trigger_with_its_own_secret_takes_only_deliveries_signed_with_it(hub: Hub) -> None:
    repository = Hub.repository()
    own = hub.deploy({"repository": repository, "secret": "the-repository-webhook-secret"})
    shared = hub.deploy({"repository": repository})
    body = moved("push.added-modified", repository)

    by_shared, by_own = new_id(), new_id()
    answered(hub.deliver("push", body, delivery_id=by_shared), delivered_to=1)
    signed_own = hub.deliver(
        "push", body, secret="the-repository-webhook-secret", delivery_id=by_own
    )
    answered(signed_own, delivered_to=1)

    assert hub.started(shared) == [by_shared]
    assert hub.started(own) == [by_own]
    for delivery_id, workflow in ((by_shared, shared), (by_own, own)):
        (row,) = hub.logged(delivery_id)
        assert row["outcome"] == "delivered"
        assert [target["workflow_id"] for target in row["targets"]] == [workflow]


def test_a_delivery_signed_with_another_secret_than_the_triggers_own_says_so(
    hub: Hub,
) -> None:
    repository = Hub.repository()
    hub.deploy({"repository": repository, "secret": "the-repository-webhook-secret"})
    delivery_id = new_id()
    answer = hub.deliver("push", moved("push.added-modified", repository), delivery_id=delivery_id)
    answered(answer, delivered_to=0)
    (row,) = hub.logged(delivery_id)
    assert row["outcome"] == "filtered"
    assert "1 GITHUB trigger(s) for" in row["reason"], row["reason"]
    assert "not signed with their secret" in row["reason"], row["reason"]


def test_a_trigger_takes_every_secret_of_its_rotation(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository, "secrets": ["new-secret", "old-secret"]})
    body = moved("push.added-modified", repository)

    by_new, by_old, by_shared, by_unknown = new_id(), new_id(), new_id(), new_id()
    answered(hub.deliver("push", body, secret="new-secret", delivery_id=by_new), delivered_to=1)
    answered(hub.deliver("push", body, secret="old-secret", delivery_id=by_old), delivered_to=1)
    answered(hub.deliver("push", body, delivery_id=by_shared), delivered_to=0)  # not its own
    answer = hub.deliver("push", body, secret="unknown-secret", delivery_id=by_unknown)
    hub.refused(answer, 401, "INVALID_SIGNATURE", by_unknown)

    assert sorted(hub.started(workflow, 2)) == sorted([by_new, by_old])


def test_the_gateway_wide_secret_and_its_previous_ones_are_taken(rotating: Hub) -> None:
    repository = Hub.repository()
    workflow = rotating.deploy({"repository": repository})
    body = moved("push.added-modified", repository)

    by_current, by_retired, by_unknown = new_id(), new_id(), new_id()
    answered(rotating.deliver("push", body, delivery_id=by_current), delivered_to=1)
    by_previous = rotating.deliver("push", body, secret=RETIRED_SECRET, delivery_id=by_retired)
    answered(by_previous, delivered_to=1)
    answer = rotating.deliver("push", body, secret="never-configured", delivery_id=by_unknown)
    rotating.refused(answer, 401, "INVALID_SIGNATURE", by_unknown)

    assert sorted(rotating.started(workflow, 2)) == sorted([by_current, by_retired])


# redeliveries ---------------------------------------------------------------------------------


def test_a_redelivery_is_a_duplicate_and_starts_nothing(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository})
    body, delivery_id = moved("push.added-modified", repository), new_id()

    first = answered(hub.deliver("push", body, delivery_id=delivery_id), delivered_to=1)
    again = hub.deliver("push", body, delivery_id=delivery_id)
    assert again.status_code == 202, again.text
    duplicate = again.json()
    assert (duplicate["duplicate"], duplicate["delivered_to"]) == (True, 0)
    assert "duplicate" in duplicate["message"]

    assert hub.started(workflow) == [delivery_id]
    newest, oldest = hub.logged(delivery_id, 2)
    assert (newest["outcome"], oldest["outcome"]) == ("duplicate", "delivered")
    assert oldest["event_id"] == first["event_id"] == newest["duplicate_of"]


def test_concurrent_redeliveries_start_one_run(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository})
    body, delivery_id = moved("push.added-modified", repository), new_id()

    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(lambda _: hub.deliver("push", body, delivery_id=delivery_id), range(5))
        )
    assert [answer.status_code for answer in answers] == [202] * 5
    assert sorted(answer.json()["delivered_to"] for answer in answers) == [0, 0, 0, 0, 1]
    assert sorted(answer.json()["duplicate"] for answer in answers) == [False] + [True] * 4
    assert hub.started(workflow) == [delivery_id]


# ping and deliveries nothing takes ------------------------------------------------------------


def test_a_ping_is_answered_and_stored_and_starts_nothing(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository, "events": ["*"]})
    body, delivery_id = moved("ping", repository), new_id()

    answer = hub.deliver("ping", body, delivery_id=delivery_id)
    assert answer.status_code == 200, answer.text
    zen = json.loads(body)["zen"]
    assert answer.json() == {"status": "ok", "message": "pong", "zen": zen}
    found = hub.stored(delivery_id)
    assert found.status_code == 200, found.text
    assert (found.json()["event"], found.json()["payload"]) == ("ping", body.decode())
    (row,) = hub.logged(delivery_id)
    assert (row["outcome"], row["started"]) == ("filtered", 0)
    assert "ping" in row["reason"]

    pushed = new_id()
    push = moved("push.added-modified", repository)
    answered(hub.deliver("push", push, delivery_id=pushed), delivered_to=1)
    assert hub.started(workflow) == [pushed]


def test_an_event_type_or_repository_no_trigger_takes_is_filtered(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository})  # push only
    sample = "highway_github_deliveries_total"
    before = metric(hub.admin, sample, event="release", outcome="filtered")

    release = new_id()
    answer = hub.deliver("release", moved("release.published", repository), delivery_id=release)
    answered(answer, delivered_to=0)
    assert metric(hub.admin, sample, event="release", outcome="filtered") == before + 1
    (row,) = hub.logged(release)
    assert (row["outcome"], row["started"]) == ("filtered", 0)
    assert "event 'release' is not in events ['push']" in row["reason"], row
    assert [(t["workflow_id"], t["matched"]) for t in row["targets"]] == [(workflow, False)]
    assert hub.stored(release).json()["event"] == "release"  # verified: kept

    elsewhere, unwatched = Hub.repository(), new_id()
    push = moved("push.added-modified", elsewhere)
    answered(hub.deliver("push", push, delivery_id=unwatched), delivered_to=0)
    (row,) = hub.logged(unwatched)
    assert row["outcome"] == "filtered"
    assert f"no GITHUB trigger for '{elsewhere.lower()}'" in row["reason"], row

    pushed = new_id()
    push = moved("push.added-modified", repository)
    answered(hub.deliver("push", push, delivery_id=pushed), delivered_to=1)
    assert hub.started(workflow) == [pushed]


# trigger data and stored deliveries -----------------------------------------------------------


def test_a_push_starts_with_the_documented_trigger_data_and_is_stored_as_sent(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository})
    body = moved("push.added-modified", repository).replace(  # raw text a re-encoding changes
        b'"message": "test a push event"', '"message": "café ☕ caf\\u00e9 \\"quoted\\""'.encode()
    )
    payload, delivery_id = json.loads(body), new_id()

    answered(hub.deliver("push", body, delivery_id=delivery_id), delivered_to=1)
    repo = payload["repository"]
    assert start_data(hub, workflow) == {
        "event": "push",
        "action": None,
        "delivery_id": delivery_id,
        "repository": {
            "full_name": repository,
            "id": repo["id"],
            "name": "sample_app",
            "owner": "binkkatal",
            "private": False,
            "default_branch": "master",
            "html_url": f"https://github.com/{repository}",
        },
        "installation_id": None,
        "ref": "refs/heads/master",
        "branch": "master",
        "tag": None,
        "sha": payload["after"],
        "sender": {"login": "binkkatal", "id": payload["sender"]["id"], "type": "User"},
        # the commit's added + modified + removed (none)
        "changed_files": [".razorops.yaml", "app/controllers/application_controller.rb"],
        "pull_request": None,
        "payload": payload,
    }

    found = hub.stored(delivery_id)
    assert found.status_code == 200, found.text
    row = found.json()
    processed_at = datetime.fromisoformat(row.pop("processed_at"))
    assert abs(datetime.now(UTC) - processed_at) < timedelta(minutes=1)
    assert row == {
        "delivery_id": delivery_id,
        "event": "push",
        "action": None,
        "repository": repository,
        "repository_id": repo["id"],
        "installation_id": None,
        "payload": body.decode(),  # byte for byte
    }


def test_a_form_encoded_delivery_is_taken_from_its_payload_field(hub: Hub) -> None:
    """GitHub's default content type, ``application/x-www-form-urlencoded``: the JSON comes
    in the form's ``payload`` field, the signature covers the form as sent. It starts as
    the JSON body would and is stored as the JSON GitHub sent; a form signed otherwise is
    401, one without a JSON object in ``payload`` 400 (signed) and starts nothing."""
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository, "events": ["push", "ping"]})
    document = moved("push.added-modified", repository).replace(  # what a form encodes
        b'"message": "test a push event"', '"message": "a+b & c=d %20 café"'.encode()
    )
    form = "application/x-www-form-urlencoded"

    def deliver(body: bytes, event: str = "push", **options: Any) -> httpx.Response:
        return hub.deliver(event, body, Content_Type=form, **options)

    delivery_id = new_id()
    answered(deliver(urlencode({"payload": document}).encode(), delivery_id=delivery_id), 1)
    assert start_data(hub, workflow)["payload"] == json.loads(document)
    assert hub.stored(delivery_id).json()["payload"] == document.decode()

    signed_json = {"X_Hub_Signature_256": sign(document, SHARED_SECRET)}
    unsigned = new_id()
    answer = deliver(urlencode({"payload": document}).encode(), delivery_id=unsigned, **signed_json)
    hub.refused(answer, 401, "INVALID_SIGNATURE", unsigned)
    for body in (b"hook_id=1", b"payload=%7Bnot+json", b"payload=%5B1%5D", b"payload=1&payload=2"):
        refused = new_id()
        hub.refused(deliver(body, delivery_id=refused), 400, "MALFORMED_BODY", refused)
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    pong = deliver(urlencode({"payload": ping}).encode(), event="ping")
    assert (pong.status_code, pong.json()["zen"]) == (200, "Keep it logically awesome.")
    assert hub.started(workflow) == [delivery_id]


def test_a_pull_request_starts_with_its_base_branch_head_sha_and_summary(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy({"repository": repository, "events": ["pull_request"]})
    body, delivery_id = moved("pull_request.opened", repository), new_id()
    payload = json.loads(body)
    pull_request = payload["pull_request"]

    answered(hub.deliver("pull_request", body, delivery_id=delivery_id), delivered_to=1)
    data = start_data(hub, workflow)
    assert (data["event"], data["action"], data["delivery_id"]) == (
        "pull_request",
        "opened",
        delivery_id,
    )
    assert (data["ref"], data["branch"], data["tag"]) == (None, "master", None)
    assert data["sha"] == pull_request["head"]["sha"]
    assert (data["installation_id"], data["changed_files"]) == (1, None)
    assert data["pull_request"] == {
        "number": 2,
        "title": "Update the README with new information.",
        "state": "open",
        "draft": False,
        "merged": False,
        "user": "Codertocat",
        "head_ref": "changes",
        "head_sha": pull_request["head"]["sha"],
        "base_ref": "master",
        "html_url": f"https://github.com/{repository}/pull/2",
    }
    assert data["payload"] == payload

    row = hub.stored(delivery_id).json()
    assert (row["event"], row["action"], row["repository"]) == (
        "pull_request",
        "opened",
        repository,
    )
    assert (row["repository_id"], row["installation_id"]) == (payload["repository"]["id"], 1)
    assert row["payload"] == body.decode()


def test_the_repository_matches_without_regard_to_case(hub: Hub) -> None:
    repository = Hub.repository()  # Octo-Org/repo-N
    workflow = hub.deploy({"repository": repository.swapcase()})  # oCTO-oRG/REPO-N
    delivery_id = new_id()
    push = moved("push.added-modified", repository)
    answered(hub.deliver("push", push, delivery_id=delivery_id), delivered_to=1)
    assert hub.started(workflow) == [delivery_id]


# resuming waiting runs ------------------------------------------------------------------------


def test_a_comment_on_a_pull_request_resumes_the_run_waiting_on_it(hub: Hub) -> None:
    repository, run_id = Hub.repository(), f"run-{new_id()}"
    # registered in lower case; GitHub sends Octo-Org/repo-N
    wait_id = wait_on(hub, f"github:{repository.lower()}#pr:1", run_id)
    body, delivery_id = comment_on_pull_request(repository), new_id()

    answered(hub.deliver("issue_comment", body, delivery_id=delivery_id), delivered_to=1)
    data = resumed(hub, run_id, wait_id)
    assert (data["event"], data["action"], data["delivery_id"]) == (
        "issue_comment",
        "created",
        delivery_id,
    )
    assert data["repository"]["full_name"] == repository
    assert data["payload"] == json.loads(body)
    assert data["payload"]["comment"]["body"] == "LGTM"
    (row,) = hub.logged(delivery_id)
    assert (row["outcome"], row["started"], row["resumed"]) == ("delivered", 0, 1)
    assert [(t["wait_id"], t["workflow_run_id"]) for t in row["targets"]] == [(wait_id, run_id)]


def test_an_issue_event_resumes_the_run_waiting_on_the_issue(hub: Hub) -> None:
    repository, run_id = Hub.repository(), f"run-{new_id()}"
    wait_id = wait_on(hub, f"github:{repository}#issue:1", run_id)
    body, delivery_id = moved("issues.opened", repository), new_id()

    answered(hub.deliver("issues", body, delivery_id=delivery_id), delivered_to=1)
    data = resumed(hub, run_id, wait_id)
    assert (data["event"], data["action"], data["delivery_id"]) == ("issues", "opened", delivery_id)
    assert data["payload"] == json.loads(body)


def test_a_resume_only_trigger_starts_nothing_without_a_paused_run(hub: Hub) -> None:
    repository = Hub.repository()
    workflow = hub.deploy(
        {"repository": repository, "events": ["pull_request"], "on_fire": "resume_only"}
    )
    body = moved("pull_request.opened", repository)
    answer = hub.deliver("pull_request", body, delivery_id=new_id())
    assert answer.status_code == 202, answer.text

    def asked_for_paused_runs() -> bool:
        return any(c.path == f"/v2/workflows/{workflow}/executions" for c in hub.engine.calls)

    wait_until(asked_for_paused_runs)
    time.sleep(SETTLE_SECONDS)
    assert not hub.engine.starts(workflow)


# retention ------------------------------------------------------------------------------------


def test_stored_deliveries_past_the_retention_are_pruned(hub: Hub) -> None:
    repository = Hub.repository()
    hub.deploy({"repository": repository})
    body = moved("push.added-modified", repository)
    older, newer = new_id(), new_id()
    answered(hub.deliver("push", body, delivery_id=older), delivered_to=1)
    answered(hub.deliver("push", body, delivery_id=newer), delivered_to=1)
    store = highway_triggers_github.api_of(hub.gateway.context).store

    newer_at = datetime.fromisoformat(hub.stored(newer).json()["processed_at"])
    assert hub.gateway.run(store.prune(newer_at)) >= 1
    assert (hub.stored(older).status_code, hub.stored(newer).status_code) == (404, 200)

    assert hub.gateway.run(store.prune(datetime.now(UTC) + timedelta(hours=1))) >= 1
    assert hub.stored(newer).status_code == 404


def test_the_gateway_prunes_stored_deliveries_by_itself(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    retention = {"HIGHWAY_GITHUB_EVENT_RETENTION_HOURS": str(2 / 3600)}  # two seconds
    with running_engine() as (engine, engine_url), environment(retention):
        with serving(database, tmp_path, engine, engine_url, prune_interval_seconds=0.2) as hub:
            repository = Hub.repository()
            hub.deploy({"repository": repository})
            delivery_id = new_id()
            answered(
                hub.deliver(
                    "push", moved("push.added-modified", repository), delivery_id=delivery_id
                ),
                delivered_to=1,
            )
            assert hub.stored(delivery_id).status_code == 200
            wait_until(lambda: hub.stored(delivery_id).status_code == 404)
