"""``response: wait``: the request is held until the run posts its answer to
``/api/v1/webhook-responses/{request_id}`` (on any replica), or answered 202 on timeout."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from highway_triggers_webhook.options import Answer
from webhook_hub import Hub

from highway_triggers.plugin import ConfigError
from highway_triggers.testing import EngineCall, running_replicas, wait_until

ANSWER = {"status": 201, "headers": {"X-Run": "r-1"}, "body": {"approved": True}}


def held_call(
    pool: ThreadPoolExecutor, client: httpx.Client, path: str, **headers: str
) -> Future[httpx.Response]:
    return pool.submit(
        client.post,
        path,
        content=b'{"q": 1}',
        headers={"content-type": "application/json", **headers},
    )


def request_id_of(calls: list[EngineCall]) -> str:
    data = calls[-1].body.get("trigger_data") or calls[-1].body["resume_data"]
    return str(data["request_id"])


def test_a_held_request_is_answered_by_its_run(hub: Hub) -> None:
    workflow = hub.deploy({"response": "wait", "response_timeout_seconds": 20})
    with ThreadPoolExecutor(1) as pool:
        pending = held_call(pool, hub.sender(), f"/api/v1/public/webhook/{workflow}")
        request_id = request_id_of(hub.starts(workflow))
        time.sleep(0.1)
        assert not pending.done()
        answered = hub.admin.post(f"/api/v1/webhook-responses/{request_id}", json=ANSWER)
        assert answered.json() == {"status": "answered", "request_id": request_id}
        answer = pending.result(timeout=5)
    assert (answer.status_code, answer.json(), answer.headers["x-run"]) == (
        201,
        {"approved": True},
        "r-1",
    )
    again = hub.admin.post(f"/api/v1/webhook-responses/{request_id}", json=ANSWER)
    hub.refused(again, 409, "ALREADY_ANSWERED")


def test_an_answer_http_cannot_send_is_refused_and_the_request_stays_held(hub: Hub) -> None:
    workflow = hub.deploy({"response": "wait", "response_timeout_seconds": 20})
    with ThreadPoolExecutor(1) as pool:
        pending = held_call(pool, hub.sender(), f"/api/v1/public/webhook/{workflow}")
        answers = f"/api/v1/webhook-responses/{request_id_of(hub.starts(workflow))}"
        for bad, field in (
            ({"headers": {"X-Price": "5 \u20ac"}}, "headers.X-Price"),
            ({"headers": {"X-Split": "a\nb"}}, "headers.X-Split"),
            ({"status": 103}, "status"),
            ({"status": 204, "body": "done"}, "body"),
            ({"status": 304, "body": {"cached": True}}, "body"),
        ):
            refused = hub.refused(hub.admin.post(answers, json=bad), 422, "VALIDATION_ERROR")
            assert refused["message"].startswith(f"{field}:"), refused
        assert not pending.done()
        hub.admin.post(answers, json={"status": 204, "headers": {"X-Run": "caf\u00e9"}})
        answer = pending.result(timeout=5)
    assert (answer.status_code, answer.content, answer.headers["x-run"]) == (204, b"", "caf\u00e9")


def test_control_characters_never_reach_a_header() -> None:
    # a NUL in JSON is refused before (400 UNSUPPORTED_JSON); the model refuses it too
    for value in ("a\x00b", "a\rb", "\x7f", "tab at end\t", "\u0100"):
        with pytest.raises(ConfigError) as refused:
            Answer.parse({"headers": {"X-Value": value}})
        assert [e["field"] for e in refused.value.errors] == ["headers.X-Value"]
    assert Answer.parse({"headers": {"X-Value": "a\tb \u00ff"}}).headers == {
        "X-Value": "a\tb \u00ff"
    }


def test_a_held_request_falls_back_to_202(hub: Hub) -> None:
    workflow = hub.deploy(
        {"response": "wait", "response_timeout_seconds": 0.5, "dedup_header": "webhook-id"}
    )
    began = time.monotonic()
    hub.accepted(hub.post(workflow, **{"webhook-id": "m1"}))
    assert 0.5 <= time.monotonic() - began < 3
    late = hub.admin.post(
        f"/api/v1/webhook-responses/{request_id_of(hub.starts(workflow))}", json=ANSWER
    )
    hub.refused(late, 410, "REQUEST_NOT_HELD")
    began = time.monotonic()
    assert hub.accepted(hub.post(workflow, **{"webhook-id": "m1"}), 0)["duplicate"]  # not held
    assert time.monotonic() - began < 0.5
    hub.refused(
        hub.admin.post("/api/v1/webhook-responses/nope", json=ANSWER), 404, "REQUEST_NOT_FOUND"
    )
    for bad in ({"status": 99}, {"headers": {"Transfer-Encoding": "chunked"}}, {"other": 1}):
        hub.refused(
            hub.admin.post("/api/v1/webhook-responses/nope", json=bad), 422, "VALIDATION_ERROR"
        )
    hub.refused(
        hub.sender().post("/api/v1/webhook-responses/nope", json=ANSWER), 401, "UNAUTHORIZED"
    )


def test_an_answer_after_the_202_is_refused_though_the_hold_was_written_late(hub: Hub) -> None:
    """The hold's row waits its turn at the database's writer (here held busy for 0.4 s):
    its expiry is still the hold's own deadline, so an answer posted after the 202 is
    refused, not recorded for a request that no longer waits for one. (On SQLite the
    busy writer holds the whole event loop, and the request simply starts later.)"""
    workflow = hub.deploy({"response": "wait", "response_timeout_seconds": 0.5})
    database = hub.gateway.context.database
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(hub.gateway.run, database.write(time.sleep, 0.4))
        time.sleep(0.05)
        hub.accepted(hub.post(workflow))
        busy.result()
    late = hub.admin.post(
        f"/api/v1/webhook-responses/{request_id_of(hub.starts(workflow))}", json=ANSWER
    )
    hub.refused(late, 410, "REQUEST_NOT_HELD")


def test_a_per_run_webhook_held_for_the_resumed_run(hub: Hub) -> None:
    registered = hub.admin.post(
        "/api/v1/webhook-registrations",
        json={"tenant_id": "acme", "workflow_run_id": "run-held", "response": "wait"},
    ).json()
    with ThreadPoolExecutor(1) as pool:
        pending = held_call(pool, hub.sender(), httpx.URL(registered["url"]).path)
        resumes = wait_until(lambda: [c for c in hub.engine.resumes() if "/run-held/" in c.path])
        answer = {"status": 200, "body": "thanks"}
        hub.admin.post(f"/api/v1/webhook-responses/{request_id_of(resumes)}", json=answer)
        assert pending.result(timeout=5).text == "thanks"


@pytest.mark.postgres
def test_the_answer_reaches_the_replica_that_holds_the_request(
    postgres_url: str, tmp_path: Path, bytecode_env: dict[str, str]
) -> None:
    """Two gateway processes on one database: the request waits on A, the run answers on
    B. Polls run every 5 s here, so an answer within a second came by NOTIFY."""
    polls = {"HIGHWAY_RECONCILE_INTERVAL_SECONDS": "5"}
    with running_replicas(postgres_url, tmp_path, env=bytecode_env | polls) as running:
        (a, b), engine = running
        on_a, on_b = a.admin, b.admin
        with httpx.Client(base_url=a.url, timeout=30) as sender:
            trigger: dict[str, Any] = {
                "type": "WEBHOOK",
                "config": {"response": "wait", "response_timeout_seconds": 20},
            }
            deployed = on_a.post(
                "/api/v1/deployment/workflows/held/deploy", json={"triggers": [trigger]}
            )
            assert deployed.status_code == 200, deployed.text
            with ThreadPoolExecutor(1) as pool:
                pending = held_call(pool, sender, "/api/v1/public/webhook/held")
                request_id = request_id_of(wait_until(engine.starts))
                answered_at = time.monotonic()
                assert (
                    on_b.post(f"/api/v1/webhook-responses/{request_id}", json=ANSWER).status_code
                    == 200
                )
                answer = pending.result(timeout=10)
                latency = time.monotonic() - answered_at
    assert (answer.status_code, answer.json()) == (201, {"approved": True})
    assert latency < 1.0, f"the answer took {latency:.2f} s to reach the holding replica"
