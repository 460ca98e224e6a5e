"""EMAIL triggers against a real Dovecot: APPEND-to-dispatch latency with IDLE, and the
rate at which a burst of 1,000 messages is dispatched.

    uv run --all-packages python bench/email_watch.py [--samples 50] [--burst 1000]

One gateway in this process (SQLite in a temporary data dir, its default FULL
synchronous, recorder engine, the email plugin with its default settings) and a Dovecot
of the email tests (``dovecot -F``, plain IMAP on loopback, Maildir; ``scripts/test-setup``
installs it). Each measure has its own mailbox and EMAIL trigger (one watcher each):

- latency: ``--samples`` messages APPENDed one at a time over a second IMAP connection,
  each once the one before was dispatched; from APPEND's answer to the dispatch row's
  commit (``created_at``). Dovecot tells an IDLE client of new mail ~0.5 s after it
  arrives: that wait is most of it;
- burst: ``--burst`` messages delivered straight into the Maildir at once (as a delivery
  agent does: written in ``tmp/``, then moved to ``new/``) while the watcher IDLEs; from
  the start of the delivery to the last dispatch row committed, and the rate.
"""

from __future__ import annotations

import sys

# this folder goes last: its email.py (this file) must not hide the standard library's email
sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import route  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent.parent / "plugins/email/tests"))
from dovecot import Account, Dovecot, message  # noqa: E402

from highway_triggers.settings import Settings  # noqa: E402
from highway_triggers.testing import running_gateway, wait_until  # noqa: E402

ADMIN_TOKEN = "bench-admin-token"


def deploy(admin: httpx.Client, server: Dovecot, account: Account, workflow_id: str) -> None:
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "ssl": False,
        "username": account.username,
        "password": account.password,
    }
    answer = admin.post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy",
        json={"triggers": [{"type": "EMAIL", "config": config}]},
    )
    answer.raise_for_status()

    def watched() -> bool:
        mailboxes = admin.get("/api/v1/email/mailboxes").json()["mailboxes"]
        return any(
            m["username"] == account.username and m["connected"] and m["cursor"] for m in mailboxes
        )

    wait_until(watched, timeout=30)


def dispatches(admin: httpx.Client, workflow_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"workflow_id": workflow_id, "limit": 1000, "cursor": cursor}
        page = admin.get("/api/v1/dispatches", params={k: v for k, v in params.items() if v})
        body = page.json()
        found += body["dispatches"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def committed(row: dict[str, Any]) -> float:
    return datetime.fromisoformat(row["created_at"]).timestamp()


def latency(admin: httpx.Client, server: Dovecot, samples: int) -> list[float]:
    account = server.account()
    deploy(admin, server, account, "bench-latency")
    client = server.client(account)
    appended: dict[str, float] = {}
    for n in range(samples):
        message_id = f"<latency-{n}@bench.example>"
        client.append("INBOX", message(f"latency {n}", message_id=message_id))
        appended[message_id] = time.time()
        wait_until(lambda: len(dispatches(admin, "bench-latency")) > n, interval=0.005)
    client.logout()
    rows = dispatches(admin, "bench-latency")
    return sorted(committed(r) - appended[r["payload"]["message_id"]] for r in rows)


def burst(admin: httpx.Client, server: Dovecot, count: int) -> tuple[float, float]:
    """Seconds from the first message delivered to the last dispatch; and the delivery's."""
    account = server.account()
    deploy(admin, server, account, "bench-burst")
    sent = [message(f"burst {n}", message_id=f"<burst-{n}@bench.example>") for n in range(count)]
    began = time.time()
    server.drop(account, *sent)
    written = time.time() - began
    rows = wait_until(
        lambda: len(found := dispatches(admin, "bench-burst")) >= count and found,
        timeout=600,
        interval=0.2,
    )
    return max(committed(r) for r in rows) - began, written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cpus, {route._cpu()}, Python {sys.version.split()[0]}")
    print("gateway: in process, sqlite (FULL), recorder engine; Dovecot 2.3, plain IMAP, Maildir")
    server = Dovecot().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=tmp,
                database_url=f"sqlite:///{tmp}/gateway.db",
                admin_token=ADMIN_TOKEN,
                secret_key="bench-secret-key",
                secret_key_file=f"{tmp}/secret-key",
                log_level="WARNING",
            )
            with running_gateway(settings) as gateway:
                admin = gateway.client(ADMIN_TOKEN)
                found = latency(admin, server, args.samples)
                p99 = found[max(0, int(len(found) * 0.99) - 1)]
                print(
                    f"APPEND to dispatch, IDLE, {len(found)} messages one at a time: "
                    f"p50 {statistics.median(found) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                    f"max {found[-1] * 1000:.0f} ms"
                )
                took, written = burst(admin, server, args.burst)
                print(
                    f"burst of {args.burst:,} messages (delivered into the Maildir in "
                    f"{written:.2f} s): all dispatched {took:.2f} s after the delivery began, "
                    f"{args.burst / took:,.0f} messages/s"
                )
    finally:
        server.close()


if __name__ == "__main__":
    main()
