"""When the mail server misbehaves: Dovecot stopped and started again (mail delivered
meanwhile is not lost, nothing is dispatched twice), a wrong password (shown in health,
retried with backoff, no crash loop), a server that accepts connections and never
answers (not checked for three intervals: health degraded), a server without IDLE
(polled), and IDLE issued again at ``HIGHWAY_EMAIL_IDLE_RENEW_SECONDS``.

A Dovecot and a SQLite gateway of this module's own (IDLE renewed every 0.5 s); a test
that leaves a mailbox failing undeploys it, so that the next one sees a healthy gateway.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dovecot import NO_IDLE, Dovecot, message
from email_hub import Hub, serving

from highway_triggers.fixtures import database_of
from highway_triggers.testing import free_port, metric, running_engine, wait_until

RENEW_SECONDS = 0.5


@pytest.fixture(scope="module")
def own_dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def outage_hub(tmp_path_factory: pytest.TempPathFactory, own_dovecot: Dovecot) -> Iterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("email-outage")
    with (
        running_engine() as (engine, engine_url),
        database_of("sqlite", tmp_path) as database,
        serving(
            database,
            tmp_path,
            engine,
            engine_url,
            own_dovecot,
            HIGHWAY_EMAIL_IDLE_RENEW_SECONDS=str(RENEW_SECONDS),
            HIGHWAY_EMAIL_AUTH_RETRY_SECONDS="600",  # the default: a wrong password waits
        ) as hub,
    ):
        yield hub


def health(hub: Hub) -> dict[str, Any]:
    body: dict[str, Any] = hub.admin.get("/health/detailed").json()
    return body


def undeploy(hub: Hub, workflow_id: str) -> None:
    answer = hub.admin.post(f"/api/v1/deployment/workflows/{workflow_id}/undeploy")
    assert answer.status_code == 200, answer.text
    wait_until(lambda: health(hub)["status"] == "healthy")


def started_ids(hub: Hub, workflow_id: str) -> list[str]:
    return sorted(c.body["trigger_data"]["message_id"] for c in hub.engine.starts(workflow_id))


def test_a_restarted_server_is_reconnected_and_no_message_is_lost(outage_hub: Hub) -> None:
    hub, server = outage_hub, outage_hub.dovecot
    account = server.account()
    workflow = hub.deploy(account)
    hub.watched(account)
    sent = [message(f"before {n}") for n in range(3)]
    for one in sent:
        hub.append(account, one)
    hub.starts(workflow, 3)
    hub.close()  # the test's own connections go with the server
    hub.clients.clear()

    server.stop()
    down = wait_until(lambda: (m := hub.mailbox(account)) and not m["connected"] and m)
    assert down["last_error"] is not None
    failing = wait_until(lambda: health(hub)["status"] == "degraded" and health(hub))
    assert any(account.username in p for p in failing["problems"])
    during = [message(f"during {n}") for n in range(3)]
    for one in during:  # delivered while the server is down, by the delivery agent
        server.drop(account, one)
    server.start()

    hub.watched(account)
    after = [message(f"after {n}") for n in range(2)]
    for one in after:
        hub.append(account, one)
    hub.starts(workflow, 8)
    time.sleep(1.5)
    expected = sorted(
        one.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode() for one in sent + during + after
    )
    assert started_ids(hub, workflow) == expected  # each once
    assert metric(hub.admin, "highway_email_reconnects_total") >= 1
    assert metric(hub.admin, "highway_email_connection_errors_total", kind="connection") >= 1
    undeploy(hub, workflow)


def test_a_wrong_password_shows_in_health_and_does_not_crash_loop(outage_hub: Hub) -> None:
    # a Dovecot of its own: Dovecot slows every login from an address that failed one
    hub, server = outage_hub, Dovecot().start()
    try:
        account = server.account()
        workflow = hub.deploy(account, port=server.port, password="not-the-password")
        shown = wait_until(lambda: (m := hub.mailbox(account)) and m["last_error"] and m)
        assert "AUTHENTICATIONFAILED" in shown["last_error"] and not shown["connected"]
        # tried once more after the hub's 0.1 s backoff, then after
        # HIGHWAY_EMAIL_AUTH_RETRY_SECONDS (600): two logins refused, no more (Dovecot
        # takes ~2 s to refuse a login, ~4 s the next one from the same address: a third
        # would be refused by now)
        wait_until(lambda: hub.mailbox(account)["failures"] == 2, timeout=15)
        time.sleep(5)
        assert hub.mailbox(account)["failures"] == 2
        body = health(hub)
        assert body["status"] == "degraded"
        (problem,) = body["problems"]
        assert problem.startswith(f"plugin highway-triggers-email: mailbox {account.username}@")
        assert "AUTHENTICATIONFAILED" in problem
        assert hub.admin.get("/health").status_code == 200  # the gateway serves on
        task = health(hub)["tasks"][f"email:{shown['mailbox_id']}"]
        assert (task["state"], task["failures"]) == ("running", 0)  # retried, not crashed
        assert metric(hub.admin, "highway_email_connection_errors_total", kind="auth") >= 1

        hub.deploy(account, workflow, port=server.port)  # the right password, deployed again
        hub.watched(account)
        client = server.client(account)
        client.append("INBOX", message("now it works"))
        client.logout()
        assert hub.starts(workflow)[0].body["trigger_data"]["subject"] == "now it works"
        wait_until(lambda: health(hub)["status"] == "healthy")
        undeploy(hub, workflow)
    finally:
        server.close()


def test_connection_failures_are_retried_with_capped_backoff(outage_hub: Hub) -> None:
    hub, account = outage_hub, outage_hub.dovecot.account()
    before = metric(hub.admin, "highway_email_connection_errors_total", kind="connection")
    workflow = hub.deploy(account, port=free_port())  # nothing listens there: refused
    time.sleep(3)
    # backoff 0.1, 0.2, 0.4, 0.8, then 1 s (HIGHWAY_EMAIL_BACKOFF_*): a handful of tries
    tries = metric(hub.admin, "highway_email_connection_errors_total", kind="connection") - before
    assert 4 <= tries <= 8, tries
    mailbox = hub.mailbox(account)
    assert mailbox is not None and mailbox["failures"] == tries and not mailbox["connected"]
    assert "ConnectionRefusedError" in mailbox["last_error"]
    assert metric(hub.admin, "highway_email_reconnects_total") >= tries - 1
    undeploy(hub, workflow)


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never sends a byte; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_mailbox_not_checked_for_three_intervals_degrades_health(outage_hub: Hub) -> None:
    hub, account = outage_hub, outage_hub.dovecot.account()
    with silent_server() as port:
        workflow = hub.deploy(account, port=port, check_interval=0.5)
        body = wait_until(lambda: health(hub)["status"] == "degraded" and health(hub), timeout=4)
        (problem,) = body["problems"]
        assert f"mailbox {account.username}@127.0.0.1:{port}/INBOX: not checked for " in problem
        assert problem.endswith("(3 intervals of 0.5 s)")
        mailbox = hub.mailbox(account)
        assert mailbox is not None and mailbox["watching"] and not mailbox["connected"]
        undeploy(hub, workflow)


def test_a_server_without_idle_is_polled(outage_hub: Hub) -> None:
    polled = Dovecot(NO_IDLE).start()
    try:
        account = polled.account()
        workflow_id = outage_hub.deploy(account, port=polled.port, check_interval=0.5)
        assert outage_hub.watched(account)["idle"] is False
        client = polled.client(account)
        for n in range(3):
            appended = time.monotonic()
            client.append("INBOX", message(f"polled {n}"))
            call = outage_hub.starts(workflow_id, n + 1)[n]
            assert call.received_at - appended < 0.5 + 1.0  # within an interval, and a bit
        client.logout()
        undeploy(outage_hub, workflow_id)
    finally:
        polled.close()


def test_idle_is_issued_again_at_the_renew_interval(outage_hub: Hub) -> None:
    hub, account = outage_hub, outage_hub.dovecot.account()
    workflow = hub.deploy(account, check_interval=600)  # only the renewal ends an IDLE
    hub.watched(account)
    before = metric(hub.admin, "highway_email_idle_renewals_total")
    time.sleep(2.6)
    renewed = metric(hub.admin, "highway_email_idle_renewals_total") - before
    assert 4 <= renewed <= 7, renewed  # every 0.5 s
    appended = time.monotonic()
    hub.append(account, message("still pushed"))
    assert hub.starts(workflow)[0].received_at - appended < 2.0
    undeploy(hub, workflow)
