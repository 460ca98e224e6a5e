"""Two gateway processes on one PostgreSQL database watch one mailbox: exactly one holds
its lease and watches; when it is killed with SIGKILL in the middle of a stream of mail,
the other takes the mailbox over within the lease (3 s here, and the third of it that a
waiting replica retries in) and goes on from the cursor: every message dispatched once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from dovecot import Account, Dovecot, message
from email_hub import SETTINGS

from highway_triggers.testing import (
    FakeEngine,
    GatewayProcess,
    running_replicas,
    wait_until,
)

LEASE_SECONDS = float(SETTINGS["HIGHWAY_EMAIL_LEASE_SECONDS"])
MESSAGES = 60


class Replica:
    def __init__(self, name: str, process: GatewayProcess) -> None:
        self.name = name
        self.process = process
        self.client = process.admin

    def mailbox(self) -> dict[str, Any]:
        (found,) = self.client.get("/api/v1/email/mailboxes").json()["mailboxes"]
        return found  # type: ignore[no-any-return]

    def watching(self) -> bool:
        found = self.mailbox()
        return bool(found["watching"] and found["connected"])


@pytest.fixture
def replicas(
    postgres_url: str, tmp_path: Path, bytecode_env: dict[str, str]
) -> Iterator[tuple[list[Replica], FakeEngine, Dovecot]]:
    server = Dovecot().start()
    try:
        with running_replicas(postgres_url, tmp_path, env=bytecode_env | SETTINGS) as running:
            processes, engine = running
            yield [Replica(n, p) for n, p in zip("ab", processes, strict=True)], engine, server
    finally:
        server.close()


def config(server: Dovecot, account: Account) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "ssl": False,
        "username": account.username,
        "password": account.password,
        "check_interval": 1,
    }


@pytest.mark.postgres
def test_one_replica_watches_and_another_takes_over_when_it_is_killed(
    replicas: tuple[list[Replica], FakeEngine, Dovecot],
) -> None:
    (a, b), engine, server = replicas
    account = server.account()
    trigger = {"type": "EMAIL", "config": config(server, account)}
    deployed = a.client.post(
        "/api/v1/deployment/workflows/mail-replicas/deploy", json={"triggers": [trigger]}
    )
    assert deployed.status_code == 200, deployed.text

    holder = wait_until(lambda: next((r for r in (a, b) if r.watching()), None))
    standby = b if holder is a else a
    for _ in range(10):  # one watcher, for as long as its holder lives
        assert holder.watching() and not standby.mailbox()["watching"]
        time.sleep(0.1)
    with ThreadPoolExecutor(2) as pool:
        views = list(pool.map(Replica.mailbox, (a, b)))
    assert views[0]["holder"] == views[1]["holder"]  # both see the same lease holder

    client = server.client(account)

    def stream() -> None:
        for n in range(MESSAGES):
            client.append("INBOX", message(f"mail {n}", message_id=f"<mail-{n}@tests.example>"))
            time.sleep(0.05)

    streaming = threading.Thread(target=stream)
    streaming.start()
    engine.started("mail-replicas", 15)
    holder.process.kill()
    killed_at = time.monotonic()
    wait_until(standby.watching, timeout=2 * LEASE_SECONDS)
    took_over = time.monotonic() - killed_at
    streaming.join()
    client.logout()

    def dispatched() -> list[dict[str, Any]]:
        rows = standby.client.get(
            "/api/v1/dispatches", params={"workflow_id": "mail-replicas", "limit": 1000}
        ).json()["dispatches"]
        return rows if len(rows) >= MESSAGES else []

    rows = wait_until(dispatched, timeout=30)
    time.sleep(1.5)  # a dispatch too many would show by now
    rows = dispatched()
    ids = Counter(row["payload"]["message_id"] for row in rows)
    assert ids == Counter({f"<mail-{n}@tests.example>": 1 for n in range(MESSAGES)})
    log = standby.client.get("/api/v1/deliveries", params={"source": "EMAIL", "limit": 1000})
    assert Counter(r["outcome"] for r in log.json()["deliveries"]) == {"delivered": MESSAGES}
    wait_until(lambda: len(engine.accepted()) >= MESSAGES, timeout=30)
    print(f"taken over {took_over:.2f} s after the holder was killed")
    # the lease runs out at most LEASE after its last renewal; the standby tries every third
    assert took_over < LEASE_SECONDS + LEASE_SECONDS / 3 + 1.0
