"""EMAIL triggers against a real Dovecot: each message appended over IMAP is dispatched
exactly once (within 2 s with IDLE) with the documented trigger data; the same
Message-ID twice starts once; every message is in the delivery log with its outcome;
each filter takes only its messages, and says why not; mark-as-read and move; a reply
resumes the run waiting on the message it answers; a new UIDVALIDITY re-scans without
dispatching again.

The first tests run on SQLite and PostgreSQL (``hub``), the others on SQLite. Each test
has accounts of its own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from dovecot import Account, Dovecot, message
from email_hub import Hub
from imapclient import SEEN
from imapclient.exceptions import IMAPClientError

from highway_triggers.testing import wait_until

SETTLE_SECONDS = 0.5
"""Time for a start that should not happen to show up (a check runs every second)."""


def subjects(hub: Hub, workflow_id: str, count: int) -> list[str]:
    """The subjects ``workflow_id`` was started with, once ``count`` starts arrived and a
    moment later (a start too many shows by then)."""
    hub.starts(workflow_id, count)
    time.sleep(SETTLE_SECONDS)
    return sorted(c.body["trigger_data"]["subject"] for c in hub.engine.starts(workflow_id))


def seen(hub: Hub, account: Account, folder: str = "INBOX") -> list[tuple[str, bool]]:
    """Each message's subject and whether it is read, in ``folder``, in UID order (none
    while the folder does not exist)."""
    client = hub.imap(account)
    try:
        client.select_folder(folder, readonly=True)
    except IMAPClientError:
        return []
    uids = client.search(["ALL"])
    if not uids:
        return []
    found = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    subject = b"BODY[HEADER.FIELDS (SUBJECT)]"
    return [
        (found[uid][subject].decode().split(":", 1)[1].strip(), SEEN in found[uid][b"FLAGS"])
        for uid in sorted(found)
    ]


def logged(hub: Hub, **match: Any) -> list[dict[str, Any]]:
    """The delivery log's EMAIL rows whose fields are ``match``."""
    return [r for r in hub.delivery_log() if all(r.get(k) == v for k, v in match.items())]


# dispatch ---------------------------------------------------------------------------------


def test_appended_messages_start_one_run_each_within_two_seconds(hub: Hub) -> None:
    account = hub.dovecot.account()
    workflow = hub.deploy(account)
    mailbox = hub.watched(account)
    assert (mailbox["idle"], mailbox["watching"], mailbox["last_error"]) == (True, True, None)
    assert mailbox["holder"] == hub.gateway.context.replica_id
    assert mailbox["addresses"] == [account.username]
    latencies = []
    for n in range(5):
        appended = time.monotonic()
        hub.append(account, message(f"Message {n}", text=f"body {n}"))
        call = hub.starts(workflow, n + 1)[n]
        latencies.append(call.received_at - appended)
    assert max(latencies) < 2.0, latencies
    assert subjects(hub, workflow, 5) == [f"Message {n}" for n in range(5)]

    data = hub.engine.starts(workflow)[0].body["trigger_data"]
    assert data["mailbox"] == "INBOX" and data["uid"] >= 1 and not data["truncated"]
    assert data["from"] == {"name": "", "address": "alice@example.org"}
    assert data["to"] == [{"name": "", "address": "ops@example.net"}]
    assert data["text"] == "body 0\r\n" and data["html"] is None
    assert data["message_id"].startswith("<") and data["attachments"] == []
    assert data["uidvalidity"] == hub.mailbox(account)["cursor"]["uidvalidity"]
    # processed: marked read (mark_as_read's default), the cursor at the last one
    wait_until(lambda: all(read for _, read in seen(hub, account)))
    mailbox = hub.mailbox(account)
    assert mailbox is not None and mailbox["cursor"]["last_uid"] == 5
    assert mailbox["last_message_at"] is not None

    health = hub.admin.get("/health/detailed").json()
    shown = health["plugins_health"]["highway-triggers-email"]
    (entry,) = [m for m in shown["mailboxes"] if m["username"] == account.username]
    assert (entry["connected"], entry["watching"], entry["idle"]) == (True, True, True)
    assert entry["last_check_at"] is not None and shown["problems"] == []


def test_every_message_is_in_the_delivery_log_with_its_outcome(hub: Hub) -> None:
    account = hub.dovecot.account()
    workflow = hub.deploy(account, subject_pattern="^Deploy")
    hub.watched(account)
    again = message("Deploy #1", message_id="<deploy-1@tests.example>")
    hub.append(account, again)
    hub.append(account, again)  # the same message twice (two deliveries of one)
    hub.append(account, message("Lunch?", message_id="<lunch@tests.example>"))
    key = hub.mailbox(account)["mailbox_id"]  # type: ignore[index]

    def rows() -> list[dict[str, Any]]:
        found = [r for r in hub.delivery_log() if (r["delivery_id"] or "").startswith(key)]
        return found if len(found) == 3 else []

    found = {(r["delivery_id"], r["outcome"]): r for r in wait_until(rows)}
    assert set(found) == {
        (f"{key}:deploy-1@tests.example", "delivered"),
        (f"{key}:deploy-1@tests.example", "duplicate"),
        (f"{key}:lunch@tests.example", "filtered"),
    }
    filtered = found[(f"{key}:lunch@tests.example", "filtered")]
    assert "subject 'Lunch?' does not match '^Deploy'" in filtered["reason"]
    delivered = found[(f"{key}:deploy-1@tests.example", "delivered")]
    assert (delivered["started"], delivered["resumed"]) == (1, 0)
    assert subjects(hub, workflow, 1) == ["Deploy #1"]
    # the duplicate was processed too (read); the filtered message is left as it was
    wait_until(
        lambda: seen(hub, account) == [("Deploy #1", True), ("Deploy #1", True), ("Lunch?", False)]
    )


def test_a_reply_resumes_the_run_waiting_on_the_question(hub: Hub) -> None:
    account = hub.dovecot.account()
    hub.deploy(account, subject_pattern="^Order ")  # takes no reply: only the wait does
    hub.watched(account)
    run_id = f"run-{time.time_ns()}"
    question = "<question-7@workflows.example>"  # the Message-ID the workflow sent
    wait = {
        "tenant_id": "email-tests",
        "workflow_run_id": run_id,
        "event_name": "email",
        "correlation_key": "email:question-7@workflows.example",
    }
    answer = hub.admin.post("/api/v1/waits", json=wait)
    assert answer.status_code == 201, answer.text
    wait_id = answer.json()["wait_id"]

    reply = message("Re: Approve the refund?", text="Approved.", in_reply_to=question)
    hub.append(account, reply)

    def resumes() -> list[Any]:
        return [c for c in hub.engine.resumes() if c.path == f"/v2/executions/{run_id}/resume"]

    (call,) = wait_until(resumes)
    assert call.body["interaction_id"] == wait_id
    data = call.body["resume_data"]
    assert (data["subject"], data["text"]) == ("Re: Approve the refund?", "Approved.\r\n")
    assert (data["in_reply_to"], data["references"]) == (question, [question])
    assert hub.admin.get(f"/api/v1/waits/{wait_id}").json()["status"] == "consumed"
    (row,) = wait_until(lambda: logged(hub, outcome="delivered", resumed=1, started=0))
    assert [t["wait_id"] for t in row["targets"]] == [wait_id]


# filters and what happens after -----------------------------------------------------------


def test_each_filter_takes_only_its_messages_and_says_why_not(sqlite_hub: Hub) -> None:
    hub, account = sqlite_hub, sqlite_hub.dovecot.account()
    by = {
        "from": hub.deploy(account, **{"from": "*@monitoring.example"}),
        "to": hub.deploy(account, to="OPS@example.net"),
        "subject": hub.deploy(account, subject_pattern=r"^Invoice \d+$"),
        "body": hub.deploy(account, body_contains="PIZZA"),
        "attachment": hub.deploy(account, has_attachment=True),
        "no attachment": hub.deploy(account, has_attachment=False, **{"from": "dan@*"}),
    }
    mailbox = hub.watched(account)
    assert len(mailbox["trigger_ids"]) == 6  # six triggers, one watcher
    pdf = ("invoice-42.pdf", b"%PDF-1.4 fake")
    sent = [
        message("ALERT: disk full", sender="alerts@monitoring.example", text="95%"),
        message("Invoice 42", sender="bob@corp.example", to="billing@x.example", attachment=pdf),
        message(
            "lunch?",
            sender="carol@x.example",
            to="dev@x.example",
            cc="ops@example.net",
            text="Pizza at noon",
        ),
        message("hello", sender="dan@x.example", to="nobody@x.example", text="hi"),
        message("spam", sender="eve@x.example", to="nobody@x.example", text="buy now"),
    ]
    for sent_message in sent:
        hub.append(account, sent_message)

    assert subjects(hub, by["from"], 1) == ["ALERT: disk full"]
    assert subjects(hub, by["to"], 2) == ["ALERT: disk full", "lunch?"]
    assert subjects(hub, by["subject"], 1) == ["Invoice 42"]
    assert subjects(hub, by["body"], 1) == ["lunch?"]
    assert subjects(hub, by["attachment"], 1) == ["Invoice 42"]
    assert subjects(hub, by["no attachment"], 1) == ["hello"]
    (invoice,) = hub.engine.starts(by["attachment"])
    assert invoice.body["trigger_data"]["attachments"] == [
        {
            "filename": "invoice-42.pdf",
            "content_type": "application/pdf",
            "size": 13,
            "content": None,
        }
    ]

    (spam,) = wait_until(lambda: logged(hub, outcome="filtered"))
    reasons = {t["workflow_id"]: t["reason"] for t in spam["targets"]}
    assert reasons == {
        by["from"]: "from 'eve@x.example' does not match '*@monitoring.example'",
        by["to"]: "no recipient of ['nobody@x.example'] matches to 'OPS@example.net'",
        by["subject"]: "subject 'spam' does not match '^Invoice \\\\d+$'",
        by["body"]: "the body does not contain 'PIZZA'",
        by["attachment"]: "has_attachment is true: the message has no attachment",
        by["no attachment"]: "from 'eve@x.example' does not match 'dan@*'",
    }


def test_messages_are_marked_read_or_moved_as_configured(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    read, unread, moved = (hub.dovecot.account() for _ in range(3))
    hub.deploy(read)
    hub.deploy(unread, mark_as_read=False)
    workflow = hub.deploy(moved, move_to="Processed", subject_pattern="^Order")
    for account in (read, unread, moved):
        hub.watched(account)
        hub.append(account, message("Order 1"))
    hub.append(moved, message("Not an order"))  # filtered: stays where it is, unread

    wait_until(lambda: seen(hub, read) == [("Order 1", True)])
    wait_until(lambda: seen(hub, moved, "Processed") == [("Order 1", True)])
    assert seen(hub, moved) == [("Not an order", False)]
    assert subjects(hub, workflow, 1) == ["Order 1"]
    time.sleep(SETTLE_SECONDS)
    assert seen(hub, unread) == [("Order 1", False)]


def test_a_new_uidvalidity_is_rescanned_without_dispatching_again(sqlite_hub: Hub) -> None:
    hub, account = sqlite_hub, sqlite_hub.dovecot.account()
    client = hub.imap(account)
    client.create_folder("Support")
    workflow = hub.deploy(account, folder="Support")
    before = hub.watched(account, "Support")["cursor"]["uidvalidity"]
    first, second = message("first"), message("second")
    hub.append(account, first, "Support")
    hub.append(account, second, "Support")
    assert subjects(hub, workflow, 2) == ["first", "second"]

    # the folder is deleted and made again (a restore from backup, a migrated server): the
    # same messages come back under a new UIDVALIDITY, with one new message
    client.delete_folder("Support")
    client.create_folder("Support")
    for again in (first, second, message("third")):
        hub.append(account, again, "Support")

    assert subjects(hub, workflow, 3) == ["first", "second", "third"]
    cursor = wait_until(
        lambda: (c := hub.mailbox(account, "Support")["cursor"])["uidvalidity"] != before and c  # type: ignore[index]
    )
    assert cursor["last_uid"] == 3
    key = hub.mailbox(account, "Support")["mailbox_id"]  # type: ignore[index]
    duplicates = [r for r in logged(hub, outcome="duplicate") if r["delivery_id"].startswith(key)]
    assert len(duplicates) == 2


def test_a_new_uidvalidity_before_anything_was_routed_leaves_the_old_mail_alone(
    sqlite_hub: Hub,
) -> None:
    """Nothing routed yet (the mail there at first sight was left alone): a new
    UIDVALIDITY sees the folder anew, the same mail left alone again, not dispatched."""
    hub, server = sqlite_hub, Dovecot().start()  # its own, restarted below
    try:
        account = server.account()
        client = server.client(account)
        client.create_folder("Archive")
        old = [message("old one"), message("old two")]
        for each in old:
            client.append("Archive", each)
        workflow = hub.deploy(account, port=server.port, folder="Archive")
        before = hub.watched(account, "Archive")["cursor"]["uidvalidity"]

        # the same mail comes back in a folder made anew (a restore), which the watcher
        # meets when it connects again (the server restarted)
        client.create_folder("Restored")
        for each in old:
            client.append("Restored", each)
        client.delete_folder("Archive")
        client.rename_folder("Restored", "Archive")
        client.logout()
        server.stop()
        server.start()
        wait_until(lambda: hub.mailbox(account, "Archive")["cursor"]["uidvalidity"] != before)  # type: ignore[index]
        client = server.client(account)
        client.append("Archive", message("new one"))
        client.logout()
        assert subjects(hub, workflow, 1) == ["new one"]
    finally:
        server.close()


def test_the_password_may_come_from_the_environment(
    sqlite_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, account = sqlite_hub, sqlite_hub.dovecot.account()
    monkeypatch.setenv("HIGHWAY_EMAIL_TEST_MAILBOX_PASSWORD", account.password)
    workflow = hub.deploy(
        account, password=None, password_env="HIGHWAY_EMAIL_TEST_MAILBOX_PASSWORD"
    )
    hub.watched(account)
    hub.append(account, message("logged in from the environment"))
    assert subjects(hub, workflow, 1) == ["logged in from the environment"]
    answer = hub.admin.post(f"/api/v1/deployment/workflows/{workflow}/undeploy")
    assert answer.status_code == 200, answer.text
