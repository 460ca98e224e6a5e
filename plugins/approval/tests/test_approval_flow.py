"""The whole loop, on SQLite and PostgreSQL: an engine asks for an approval, each approver
gets an email with both links over SMTP, opening a link changes nothing (a link scanner
decides nothing), the form's POST decides, and the suspended run resumes exactly once
with the outcome — with two approvers required, a rejection, a requester who may not
approve their own request, an expiry, two decisions at the same moment, an SMTP server
that is down when the approval is asked for, and a resume a stopped replica left undone."""

from __future__ import annotations

import time
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from approval_hub import PUBLIC_URL, SENDER, Hub, form_of, html_of, links_of, token_of

from highway_triggers.plugin import utcnow
from highway_triggers.testing import wait_until
from highway_triggers_approval import api_of
from highway_triggers_approval.decide import Answer

SETTLE_SECONDS = 0.3
"""Time for a resume that should not happen to show up."""


def settled(hub: Hub, run: str) -> int:
    """How many times ``run`` was resumed, a moment after (a second resume shows by then)."""
    time.sleep(SETTLE_SECONDS)
    return len(hub.resumes(run))


def refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert code in answer.text


def notified(hub: Hub, approval_id: str) -> dict[str, Any]:
    """The first approver's email state, once it is recorded as sent (just after the SMTP
    server took the message)."""

    def sent() -> dict[str, Any] | None:
        state: dict[str, Any] = hub.status(approval_id)["approvers"][0]
        return state if state["notified_at"] else None

    found: dict[str, Any] = wait_until(sent)
    return found


def links_for(hub: Hub, approvers: list[str]) -> list[dict[str, str]]:
    """Each approver's links, from the email they received."""
    return [links_of(hub.mailbox.to(approver)[0]) for approver in approvers]


def test_email_link_confirm_and_resume_once(hub: Hub) -> None:
    (approver,) = approvers = hub.approvers(1)
    asked = hub.ask(approvers=approvers)
    assert asked["status"] == "pending"
    approval_id, run = asked["approval_id"], asked["workflow_run_id"]
    (message,) = hub.mailbox.to(approver)
    links = links_of(message)
    assert links == {"approve": asked["approve_url"], "reject": asked["reject_url"]}
    assert asked["links"] == [{"approver": approver, **{f"{d}_url": u for d, u in links.items()}}]
    assert links["approve"].startswith(f"{PUBLIC_URL}/api/v1/approvals/{approval_id}/respond?")
    assert (message["From"], message["To"]) == (SENDER, approver)
    assert message["Subject"] == "Approval requested: Deploy release 4.2 to production"
    html = html_of(message)
    assert links["approve"].replace("&", "&amp;") in html
    assert links["reject"].replace("&", "&amp;") in html
    assert "Ships <strong>4.2</strong>" in html
    assert notified(hub, approval_id)["message_id"] == message["Message-ID"]

    for _ in range(2):  # what a link scanner does, twice: nothing is decided
        page = hub.open(links["approve"], user_agent="LinkScanner/1.0")
        assert page.status_code == 200
        assert "Deploy release 4.2 to production" in page.text
    assert settled(hub, run) == 0
    assert hub.status(approval_id)["status"] == "pending"

    done = hub.post_form(
        links["approve"], {**form_of(page.text), "comment": "ship it"}, user_agent="Firefox/140"
    )
    assert done.status_code == 200, done.text
    assert "Thank you" in done.text and "The request is approved." in done.text
    data = hub.resumed(run)
    assert data["status"] == "approved"
    assert (data["approved_by"], data["comment"], data["approval_id"]) == (
        [approver],
        "ship it",
        approval_id,
    )
    assert settled(hub, run) == 1
    status = hub.status(approval_id)
    assert (status["status"], status["approved_by"]) == ("approved", [approver])
    assert status["resumed_at"] is not None and status["outcome"] == data
    (decision,) = status["decisions"]
    assert decision["decision"] == "approve" and decision["comment"] == "ship it"
    assert (decision["client_ip"], decision["user_agent"]) == ("127.0.0.1", "Firefox/140")
    assert decision["decided_at"] == data["decisions"][0]["decided_at"]


def test_two_approvals_are_required(hub: Hub) -> None:
    approvers = hub.approvers(3)
    asked = hub.ask(approvers=approvers, required_approvals=2)
    run = asked["workflow_run_id"]
    first, second, third = links_for(hub, approvers)
    assert [link["approver"] for link in asked["links"]] == approvers
    assert asked["links"][1]["approve_url"] == second["approve"]

    answer = hub.submit(first["approve"])
    assert answer.status_code == 200 and "1 of 2 approvals so far" in answer.text
    assert settled(hub, run) == 0
    assert hub.status(asked["approval_id"])["status"] == "pending"

    answer = hub.submit(second["approve"], comment="LGTM")
    assert answer.status_code == 200 and "The request is approved." in answer.text
    data = hub.resumed(run)
    assert (data["status"], data["approved_by"], data["comment"]) == (
        "approved",
        approvers[:2],
        "LGTM",
    )
    refused(hub.open(third["approve"]), 410, "APPROVAL_CLOSED")
    refused(hub.open(third["reject"]), 410, "APPROVAL_CLOSED")
    assert settled(hub, run) == 1


def test_a_rejection_decides_at_once(hub: Hub) -> None:
    approvers = hub.approvers(2)
    asked = hub.ask(approvers=approvers, required_approvals=2)
    run = asked["workflow_run_id"]
    first, second = links_for(hub, approvers)
    answer = hub.submit(first["reject"], comment="not on a Friday")
    assert answer.status_code == 200 and "The request is rejected." in answer.text
    assert "was recorded: <strong>rejected</strong>." in answer.text
    data = hub.resumed(run)
    assert (data["status"], data["approved_by"], data["rejected_by"]) == (
        "rejected",
        [],
        approvers[:1],
    )
    assert data["comment"] == "not on a Friday"
    refused(hub.open(second["approve"]), 410, "APPROVAL_CLOSED")
    assert settled(hub, run) == 1
    assert hub.status(asked["approval_id"])["status"] == "rejected"


def test_the_requester_may_not_approve_their_own_request(hub: Hub) -> None:
    requester, other = approvers = hub.approvers(2)
    asked = hub.ask(approvers=approvers, requested_by=requester.upper())
    run = asked["workflow_run_id"]
    own, others = links_for(hub, approvers)
    refused(hub.open(own["approve"]), 403, "SELF_APPROVAL")
    page = hub.open(others["approve"])  # a real form, posted with the requester's token
    form = {**form_of(page.text), "token": own["approve"].rsplit("token=", 1)[1]}
    refused(hub.post_form(own["approve"], form), 403, "SELF_APPROVAL")
    assert settled(hub, run) == 0
    assert hub.submit(others["approve"]).status_code == 200
    assert hub.resumed(run)["approved_by"] == [other]

    allowed = hub.ask(approvers=[requester], requested_by=requester, allow_self_approval=True)
    mails = hub.mailbox.to(requester, 2)
    (mail,) = [m for m in mails if allowed["approval_id"] in links_of(m)["approve"]]
    assert hub.submit(links_of(mail)["approve"]).status_code == 200
    assert hub.resumed(allowed["workflow_run_id"])["approved_by"] == [requester]


def test_an_expired_approval_resumes_its_run_once(hub: Hub) -> None:
    approvers = hub.approvers(2)
    asked = hub.ask(approvers=approvers, required_approvals=2, expires_in_seconds=1.0)
    run = asked["workflow_run_id"]
    first, second = links_for(hub, approvers)
    assert hub.submit(first["approve"]).status_code == 200
    data = hub.resumed(run)  # within a poll of the expiry
    assert (data["status"], data["approved_by"], data["comment"]) == (
        "expired",
        approvers[:1],
        None,
    )
    late = hub.open(second["approve"])  # the link expires on the whole second after
    assert late.status_code == 410 and ("LINK_EXPIRED" in late.text or "expired" in late.text)
    assert settled(hub, run) == 1
    status = hub.status(asked["approval_id"])
    assert status["status"] == "expired" and status["decided_at"] >= status["expires_at"]


def test_two_posts_for_the_last_approval_resume_once(hub: Hub) -> None:
    """Two approvers post the approval that completes it at the same moment, and one
    approver posts the same form twice at once: one decision each time, one resume."""
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            approvers = hub.approvers(3)
            asked = hub.ask(approvers=approvers, required_approvals=2)
            run = asked["workflow_run_id"]
            first, second, third = links_for(hub, approvers)
            assert hub.submit(first["approve"]).status_code == 200
            forms = [
                (link["approve"], form_of(hub.open(link["approve"]).text))
                for link in (second, third)
            ]
            answers = list(pool.map(lambda sent: hub.post_form(*sent), forms))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 410], [a.text for a in answers]
            assert hub.resumed(run)["status"] == "approved"
            assert settled(hub, run) == 1
            assert len(hub.status(asked["approval_id"])["decisions"]) == 2

        approvers = hub.approvers(2)
        asked = hub.ask(approvers=approvers, required_approvals=2)
        first, _ = links_for(hub, approvers)
        form = form_of(hub.open(first["approve"]).text)
        answers = list(pool.map(lambda _: hub.post_form(first["approve"], form), range(2)))
        assert sorted(a.status_code for a in answers) == [200, 410]
        assert any("LINK_USED" in a.text for a in answers)
        assert len(hub.status(asked["approval_id"])["decisions"]) == 1


def test_an_smtp_server_that_is_down_loses_no_approval(hub: Hub) -> None:
    (approver,) = approvers = hub.approvers(1)
    with hub.mailbox.down():
        asked = hub.ask(approvers=approvers)
        approval_id = asked["approval_id"]

        def failed_twice() -> dict[str, Any] | None:
            state: dict[str, Any] = hub.status(approval_id)["approvers"][0]
            return state if state["notify_attempts"] >= 2 else None

        state = wait_until(failed_twice)
        assert state["notified_at"] is None and "ConnectionRefusedError" in state["notify_error"]
        assert hub.status(approval_id)["notify_error"] == state["notify_error"]
        health = hub.admin.get("/health/detailed").json()
        assert health["status"] == "degraded", health
        assert any("approval emails are failing" in p for p in health["problems"]), health
    (message,) = hub.mailbox.to(approver)  # retried once the server is back
    assert links_of(message)["approve"] == asked["approve_url"]
    state = notified(hub, approval_id)
    assert state["notify_error"] is None and state["message_id"] == message["Message-ID"]
    assert hub.status(approval_id)["notified_at"] == state["notified_at"]
    health = hub.admin.get("/health/detailed").json()
    assert not any("approval emails" in p for p in health["problems"]), health
    assert hub.submit(links_of(message)["approve"]).status_code == 200
    assert hub.resumed(asked["workflow_run_id"])["status"] == "approved"


def test_a_decision_left_unresumed_is_resumed_by_the_sweep(hub: Hub) -> None:
    """A replica that stopped after recording the deciding decision, before routing the
    resume: the plugin's supervised task resumes the run, once, a few polls later."""
    approvers = hub.approvers(1)
    asked = hub.ask(approvers=approvers, notify="none")
    service = api_of(hub.gateway.context).service
    recorded = service.decisions.record(  # what the POST does before it resumes the run
        Answer(asked["approval_id"], "reject", token_of(asked["reject_url"]), comment="no")
    )
    assert recorded.status == "rejected"
    assert hub.status(asked["approval_id"])["resumed_at"] is None
    data = hub.resumed(asked["workflow_run_id"])
    assert (data["status"], data["comment"]) == ("rejected", "no")
    assert settled(hub, asked["workflow_run_id"]) == 1
    assert hub.status(asked["approval_id"])["resumed_at"] is not None


def test_approvals_resumed_past_the_retention_are_pruned(hub: Hub) -> None:
    approver = hub.approvers(1)
    decided = hub.ask(approvers=approver)
    pending = hub.ask(approvers=hub.approvers(1))
    (links,) = links_for(hub, approver)
    assert hub.submit(links["reject"]).status_code == 200
    hub.resumed(decided["workflow_run_id"])
    wait_until(lambda: hub.status(decided["approval_id"])["resumed_at"] is not None)
    store = api_of(hub.gateway.context).service.store

    assert hub.gateway.run(store.prune(utcnow() - timedelta(minutes=1))) == 0  # resumed since
    assert hub.gateway.run(store.prune(utcnow() + timedelta(seconds=1))) >= 1

    gone = hub.admin.get(f"/api/v1/approvals/{decided['approval_id']}")
    assert (gone.status_code, gone.json()["code"]) == (404, "APPROVAL_NOT_FOUND")
    assert hub.status(pending["approval_id"])["status"] == "pending"  # never pruned
