"""Two gateway processes, one PostgreSQL database, one engine: no dispatch delivered twice.

Each replica's dispatcher claims outbox rows with ``FOR UPDATE SKIP LOCKED``
and polls the shared table. A replica wakes on its own commits and would deliver its
own rows before the other sees them, so the engine answers 503 while the dispatches
are created: every row then waits out its backoff, and when the engine is back both
replicas race for the same due rows. The replicas use different engine tokens, so the
engine can tell who delivered what.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from highway_triggers.testing import (
    ADMIN_TOKEN,
    FakeEngine,
    GatewayProcess,
    ServerThread,
    gateway_env,
    wait_until,
)

WORKFLOW = "wf-replicas"
FIRES = 1000
WORKERS = 16
STATUSES = ("pending", "delivering", "failed", "dead", "skipped")


class AnswerLog:
    """ASGI wrapper around the fake engine: records the status of every answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answers: list[tuple[str, str | None, str | None, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key", b"").decode() or None
        auth = headers.get(b"authorization", b"").decode() or None

        async def logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.answers.append((scope["path"], key, auth, message["status"]))
            await send(message)

        await self.app(scope, receive, logged)

    def successful_starts(self) -> list[tuple[str, str | None, str | None, int]]:
        return [a for a in list(self.answers) if a[0].endswith("/execute") and a[3] == 200]


def admin_client(url: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )


def fire_many(url: str, first: int, count: int) -> list[tuple[str, str]]:
    """Fire the manual trigger ``count`` times; (dispatch id, event id) of each."""
    fired = []
    with admin_client(url) as client:
        for n in range(first, first + count):
            answer = client.post(
                f"/api/v1/triggers/workflows/{WORKFLOW}/manual", json={"data": {"n": n}}
            )
            assert answer.status_code == 202, answer.text
            body = answer.json()
            (dispatch_id,) = body["dispatch_ids"]
            fired.append((dispatch_id, body["event_id"]))
    return fired


@pytest.mark.postgres
def test_two_dispatchers_deliver_every_dispatch_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = FakeEngine(fail_with=503)
    log = AnswerLog(engine.app())
    server = ServerThread(log).start()
    engine_url = server.url
    try:
        base_env = gateway_env(
            postgres_url,
            tmp_path,
            engine="http",
            engine_url=engine_url,
            # a failed row waits 1.5-3 s: the backlog both replicas then race for
            dispatch_backoff_base_seconds=3,
            dispatch_backoff_max_seconds=3,
            dispatch_max_attempts=100,
            dispatch_poll_seconds=0.05,
            reconcile_interval_seconds=0.2,
        )
        a = GatewayProcess(
            {**base_env, "HIGHWAY_AUTO_MIGRATE": "true", "HIGHWAY_ENGINE_TOKEN": "token-a"},
            tmp_path / "a.log",
        )
        b = GatewayProcess(
            {**base_env, "HIGHWAY_AUTO_MIGRATE": "false", "HIGHWAY_ENGINE_TOKEN": "token-b"},
            tmp_path / "b.log",
        )
        try:
            a.start()
            with admin_client(a.url) as client:
                deployed = client.post(
                    f"/api/v1/deployment/workflows/{WORKFLOW}/deploy",
                    json={"triggers": [{"type": "MANUAL", "config": {}}]},
                )
                assert deployed.status_code == 200, deployed.text
            b.start()

            began = time.monotonic()
            per_worker = FIRES // WORKERS
            chunks = [
                (
                    (a if w % 2 == 0 else b).url,
                    w * per_worker,
                    per_worker + (FIRES % WORKERS if w == WORKERS - 1 else 0),
                )
                for w in range(WORKERS)
            ]
            with ThreadPoolExecutor(WORKERS) as pool:
                results = list(pool.map(lambda chunk: fire_many(*chunk), chunks))
            fired = [d for r in results for d, _ in r]
            event_ids = {
                e: url for (url, _, _), r in zip(chunks, results, strict=True) for _, e in r
            }
            assert len(fired) == FIRES and len(set(fired)) == FIRES
            fire_seconds = time.monotonic() - began
            assert engine.accepted() == {}
            engine.fail_with = None

            with admin_client(b.url) as client:

                def all_delivered() -> dict[str, dict[str, Any]] | None:
                    answer = client.get(
                        "/api/v1/dispatches", params={"status": "delivered", "limit": 1000}
                    )
                    rows = {d["dispatch_id"]: d for d in answer.json()["dispatches"]}
                    return rows if len(rows) == FIRES else None

                rows = wait_until(all_delivered, timeout=20, interval=0.2)
                deliver_seconds = time.monotonic() - began
                # many dispatcher polls on both replicas: a duplicate would show here
                time.sleep(0.5)
                assert set(rows) == set(fired)
                for status in STATUSES:
                    left = client.get("/api/v1/dispatches", params={"status": status}).json()
                    assert left["count"] == 0, (status, left["dispatches"][:3])
        finally:
            a.stop()
            b.stop()
    finally:
        server.stop()

    starts = log.successful_starts()
    keys = Counter(key for _, key, _, _ in starts)
    duplicates = {k: n for k, n in keys.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} dispatches delivered more than once"
    assert len(starts) == FIRES
    assert set(keys) == {r["idempotency_key"] for r in rows.values()}
    assert len(engine.accepted()) == FIRES
    assert len(engine.starts()) == len([a for a in log.answers if a[0].endswith("/execute")])
    for row in rows.values():
        tried = [a for a in log.answers if a[1] == row["idempotency_key"]]
        assert len(tried) == row["attempts"], (row, tried)
        assert [status for *_, status in tried].count(200) == 1
    # all but the last few fires (first attempt after the engine came back) failed once
    assert sum(r["attempts"] >= 2 for r in rows.values()) > FIRES // 2
    accepted = engine.accepted()
    assert sorted(c.body["trigger_data"]["n"] for c in accepted.values()) == list(range(FIRES))
    for row in rows.values():
        assert row["execution_id"] == engine._executions[row["idempotency_key"]]

    by_replica = Counter(auth for _, _, auth, _ in starts)
    assert set(by_replica) <= {"Bearer token-a", "Bearer token-b"}
    assert by_replica["Bearer token-a"] > 0 and by_replica["Bearer token-b"] > 0, by_replica
    # rows one replica committed and the other delivered (poll + SKIP LOCKED)
    url_of_token = {"Bearer token-a": a.url, "Bearer token-b": b.url}
    crossed = sum(
        1 for _, key, auth, _ in starts if event_ids[key.rsplit(":", 1)[1]] != url_of_token[auth]
    )
    assert crossed > 0, "the replicas never raced for the same rows"
    print(
        f"fired {FIRES} in {fire_seconds:.1f}s, all delivered after {deliver_seconds:.1f}s; "
        f"by replica {dict(by_replica)}; delivered by the other replica: {crossed}"
    )
