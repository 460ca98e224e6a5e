"""``GET /api/v1/dispatches`` a page at a time, and ``POST /api/v1/dispatches/retry``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from highway_triggers.core.ids import new_id
from highway_triggers.db.columns import utcnow
from highway_triggers.db.tables import DISPATCHES
from highway_triggers.testing import (
    FakeEngine,
    RunningGateway,
    gateway_settings,
    running_gateway,
    wait_until,
)


def assert_error(answer: httpx.Response, status: int, code: str, mentions: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert (body["status"], body["code"]) == ("error", code)
    assert mentions in answer.text, body


def insert_rows(gateway: RunningGateway, workflow_id: str, n: int, **values: Any) -> list[str]:
    """``n`` delivered dispatches (the dispatcher leaves them alone), oldest first."""
    ids = []
    with gateway.gateway.db.engine.begin() as conn:
        for i in range(n):
            now = utcnow()
            ids.append(new_id())
            conn.execute(
                insert(DISPATCHES).values(
                    id=ids[-1],
                    kind="start",
                    workflow_id=workflow_id,
                    trigger_type="MANUAL",
                    event_id=f"ev-{i}",
                    payload={"n": i},
                    idempotency_key=f"key-{ids[-1]}",
                    status="delivered",
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
    return ids


def all_pages(client: httpx.Client, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        answer = client.get("/api/v1/dispatches", params={**params, "cursor": cursor or ""})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([d["dispatch_id"] for d in body["dispatches"]])
        assert body["count"] == len(pages[-1])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not advance"


# paging ------------------------------------------------------------------------------------


def test_pages_cover_every_dispatch_once_newest_first(gateway: RunningGateway) -> None:
    a = insert_rows(gateway, "wf-a", 20)
    b = insert_rows(gateway, "wf-b", 3)
    client = gateway.client()
    newest_first = (a + b)[::-1]

    pages = all_pages(client, limit=10)
    assert [len(p) for p in pages] == [10, 10, 3]
    assert sum(pages, []) == newest_first
    # a last page that is exactly full says so: no empty page after it
    assert [len(p) for p in all_pages(client, limit=10, workflow_id="wf-a")] == [10, 10]
    assert sum(all_pages(client, limit=7, workflow_id="wf-a"), []) == a[::-1]
    assert all_pages(client, limit=2, workflow_id="wf-b", status="delivered") == [
        b[:0:-1],
        b[:1],
    ]
    assert all_pages(client, status="dead") == [[]]

    first = client.get("/api/v1/dispatches", params={"limit": 5}).json()
    newer = insert_rows(gateway, "wf-a", 1)  # arrives while the client pages
    second = client.get("/api/v1/dispatches", params={"limit": 5, "cursor": first["next_cursor"]})
    assert [d["dispatch_id"] for d in second.json()["dispatches"]] == newest_first[5:10]
    assert newer[0] not in second.text
    assert all_pages(client, limit=1000) == [newer + newest_first]
    default = client.get("/api/v1/dispatches").json()
    assert (default["count"], default["next_cursor"]) == (24, None)


MALFORMED_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({"cursor": "nope"}, "cursor"),
    ({"cursor": "0" * 33}, "cursor"),
    ({"cursor": "A" * 32}, "cursor"),
    ({"cursor": "' OR 1=1 --"}, "cursor"),
    ({"limit": "x"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "²"}, "limit"),
    ({"limit": "1e3"}, "limit"),
    ({"status": "gone"}, "status"),
]


def test_a_malformed_parameter_is_a_400_naming_it(gateway: RunningGateway) -> None:
    for params, name in MALFORMED_PARAMETERS:
        answer = gateway.client().get("/api/v1/dispatches", params=params)
        assert_error(answer, 400, "INVALID_PARAMETER", name)


def test_a_row_whose_payload_standard_json_refuses_is_still_listed(tmp_path: Path) -> None:
    """SQLite stores what PostgreSQL's jsonb refuses: a lone surrogate (escaped), and, written
    by hand, text that is not JSON at all."""
    settings = gateway_settings(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    with running_gateway(settings) as gateway:
        lone, broken, fine = insert_rows(gateway, "wf", 3)
        with gateway.gateway.db.engine.begin() as conn:
            conn.execute(
                update(DISPATCHES)
                .where(DISPATCHES.c.id == lone)
                .values(payload={"text": "a\ud800b", "big": 2**70})
            )
            conn.exec_driver_sql(
                f"UPDATE dispatches SET payload = 'not {{json' WHERE id = '{broken}'"
            )
        answer = gateway.client().get("/api/v1/dispatches")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        payloads = {d["dispatch_id"]: d["payload"] for d in answer.json()["dispatches"]}
        assert payloads == {
            lone: {"text": "a\ud800b", "big": 2**70},
            broken: "not {json",
            fine: {"n": 2},
        }


# bulk retry --------------------------------------------------------------------------------


@pytest.fixture
def failing(
    database_url: str, tmp_path: Path, engine: tuple[FakeEngine, str]
) -> Iterator[tuple[RunningGateway, FakeEngine]]:
    """A gateway on the fake engine, which is down; a dispatch is dead after 2 attempts."""
    fake, engine_url = engine
    fake.fail_with = 503
    settings = gateway_settings(
        database_url, tmp_path, engine="http", engine_url=engine_url, dispatch_max_attempts=2
    )
    with running_gateway(settings) as running:
        client = running.client()
        for workflow in ("wf-a", "wf-b"):
            deployed = client.post(
                f"/api/v1/deployment/workflows/{workflow}/deploy",
                json={"triggers": [{"type": "MANUAL"}]},
            )
            assert deployed.status_code == 200, deployed.text
        yield running, fake


def fire(client: httpx.Client, workflow: str) -> str:
    answer = client.post(f"/api/v1/triggers/workflows/{workflow}/manual", json={"data": {}})
    assert answer.status_code == 202, answer.text
    dispatch_id: str = answer.json()["dispatch_ids"][0]
    return dispatch_id


def statuses(client: httpx.Client) -> dict[str, str]:
    rows = client.get("/api/v1/dispatches").json()["dispatches"]
    return {d["dispatch_id"]: d["status"] for d in rows}


def test_dead_dispatches_are_retried_by_filter(
    failing: tuple[RunningGateway, FakeEngine],
) -> None:
    gateway, fake = failing
    client = gateway.client()
    a = [fire(client, "wf-a") for _ in range(3)]
    b = [fire(client, "wf-b") for _ in range(2)]
    wait_until(lambda: set(statuses(client).values()) == {"dead"} and len(statuses(client)) == 5)
    fake.fail_with = None

    retry = "/api/v1/dispatches/retry"
    answer = client.post(retry, json={"status": "dead", "workflow_id": "wf-a", "limit": 2})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"retried": 2}
    wait_until(lambda: [statuses(client)[i] for i in a[:2]] == ["delivered"] * 2)
    time.sleep(0.3)  # many dispatcher polls: nothing else moves
    assert {i: s for i, s in statuses(client).items() if s == "dead"}.keys() == {a[2], *b}

    assert client.post(retry, json={"status": "dead"}).json() == {"retried": 3}
    wait_until(lambda: set(statuses(client).values()) == {"delivered"})
    assert client.post(retry, json={"status": "dead"}).json() == {"retried": 0}
    time.sleep(0.3)
    rows = client.get("/api/v1/dispatches").json()["dispatches"]
    assert {d["attempts"] for d in rows} == {1}, "each retried row starts a fresh set of attempts"
    assert len(fake.accepted()) == 5, "each dispatch reached the engine once"
    assert len(fake.starts()) == 5 * 2 + 5


BAD_FILTERS: list[tuple[Any, int, str]] = [
    ({}, 422, "status"),
    ({"status": "delivered"}, 422, "status"),
    ({"status": "pending"}, 422, "status"),
    ({"status": ["dead"]}, 422, "status"),
    ({"status": "dead", "limit": 0}, 422, "limit"),
    ({"status": "dead", "limit": 10_001}, 422, "limit"),
    ({"status": "dead", "limit": "5"}, 422, "limit"),
    ({"status": "dead", "limit": True}, 422, "limit"),
    ({"status": "dead", "workflow_id": 5}, 422, "workflow_id"),
    ({"status": "dead", "workflow_id": ""}, 422, "workflow_id"),
    ({"status": "dead", "tenant_id": "t"}, 422, "tenant_id"),
    (["dead"], 400, "object"),
    ("not json", 400, "JSON"),
]
"""Bulk-retry bodies that are refused: the body, the status, what the message names."""


def test_a_bad_retry_filter_is_refused_and_retries_nothing(
    failing: tuple[RunningGateway, FakeEngine],
) -> None:
    gateway, fake = failing
    client = gateway.client()
    dead = fire(client, "wf-a")
    wait_until(lambda: statuses(client) == {dead: "dead"})
    fake.fail_with = None
    for body, status, mentions in BAD_FILTERS:
        if isinstance(body, str):
            answer = client.post("/api/v1/dispatches/retry", content=body)
        else:
            answer = client.post("/api/v1/dispatches/retry", json=body)
        code = "VALIDATION_ERROR" if status == 422 else "MALFORMED_BODY"
        assert_error(answer, status, code, mentions)
    time.sleep(0.2)
    assert statuses(client) == {dead: "dead"}


def test_bulk_retry_needs_admin(gateway: RunningGateway) -> None:
    answer = gateway.client(token=None).post("/api/v1/dispatches/retry", json={"status": "dead"})
    assert_error(answer, 401, "UNAUTHORIZED", "")


def test_only_the_requested_status_is_retried(gateway: RunningGateway) -> None:
    """Rows of other statuses, due or not, are left as they are."""
    later = utcnow() + timedelta(hours=1)
    skipped = insert_rows(gateway, "wf", 2, mode="resume_only")
    with gateway.gateway.db.engine.begin() as conn:
        conn.execute(
            update(DISPATCHES)
            .where(DISPATCHES.c.id.in_(skipped))
            .values(status="skipped", attempts=3, next_attempt_at=later)
        )
    delivered = insert_rows(gateway, "wf", 1)
    client = gateway.client()
    assert client.post("/api/v1/dispatches/retry", json={"status": "failed"}).json() == {
        "retried": 0
    }
    assert client.post("/api/v1/dispatches/retry", json={"status": "skipped"}).json() == {
        "retried": 2
    }

    def rows() -> dict[str, dict[str, Any]]:
        listed = client.get("/api/v1/dispatches").json()["dispatches"]
        return {d["dispatch_id"]: d for d in listed}

    # resume_only with no paused run (the recorder engine has none): tried, skipped again
    wait_until(
        lambda: (
            [(rows()[i]["status"], rows()[i]["attempts"]) for i in skipped] == [("skipped", 1)] * 2
        )
    )
    assert rows()[delivered[0]]["status"] == "delivered"
