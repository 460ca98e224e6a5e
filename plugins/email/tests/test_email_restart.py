"""A burst of 200 messages, and the gateway stopped and started again in the middle of
it: every message is dispatched exactly once (one dispatch row each, none logged as a
duplicate): what was routed before the stop moved the cursor with its dispatch, and the
next gateway goes on from the cursor."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dovecot import Dovecot, message
from email_hub import Hub, email_env

from highway_triggers.testing import (
    ADMIN_TOKEN,
    gateway_settings,
    running_engine,
    running_gateway,
    wait_until,
)

BURST = 200


@pytest.fixture
def server() -> Iterator[Dovecot]:
    started = Dovecot().start()
    try:
        yield started
    finally:
        started.close()


def dispatched(url: str, workflow_id: str) -> list[dict[str, Any]]:
    """The workflow's dispatch rows (the gateway's outbox), read over its API."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = httpx.get(
        f"{url}/api/v1/dispatches",
        params={"workflow_id": workflow_id, "limit": 1000},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["dispatches"]
    return rows


def test_a_restart_in_a_burst_dispatches_every_message_once(
    server: Dovecot, tmp_path: Path
) -> None:
    account = server.account()
    sent = [message(f"burst {n}", message_id=f"<burst-{n}@tests.example>") for n in range(BURST)]
    with running_engine() as (engine, engine_url), email_env():
        settings = gateway_settings(
            f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path, engine="http", engine_url=engine_url
        )
        with running_gateway(settings) as first:
            hub = Hub(first, engine, server)
            workflow = hub.deploy(account)
            hub.watched(account)
            appender = server.client(account)

            def append_all() -> None:
                for one in sent:
                    appender.append("INBOX", one)

            appending = threading.Thread(target=append_all)
            appending.start()
            hub.starts(workflow, 40)  # the burst is under way: stop the gateway now
        stopped_at = len(engine.starts(workflow))
        with running_gateway(settings) as second:
            appending.join()
            appender.logout()
            rows = wait_until(
                lambda: len(found := dispatched(second.url, workflow)) >= BURST and found,
                timeout=30,
            )
            wait_until(lambda: len(engine.accepted()) >= BURST, timeout=30)
            log = second.admin.get(
                "/api/v1/deliveries", params={"source": "EMAIL", "limit": 1000}
            ).json()["deliveries"]

    assert stopped_at < BURST  # the restart came in the middle of the burst
    ids = Counter(row["payload"]["message_id"] for row in rows)
    assert len(rows) == BURST and set(ids) == {f"<burst-{n}@tests.example>" for n in range(BURST)}
    outcomes = Counter(row["outcome"] for row in log)
    assert outcomes == {"delivered": BURST}, outcomes
    started = {c.body["trigger_data"]["message_id"] for c in engine.accepted().values()}
    assert len(started) == BURST
