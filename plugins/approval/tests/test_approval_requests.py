"""``POST /api/v1/approvals`` and ``GET /api/v1/approvals/{id}``: invalid bodies are 422s
naming the field, the same ``approval_key`` answers the same approval, email needs SMTP;
the ``approval_pending`` event and ``APPROVAL`` triggers;
``one_click`` links and redirects after a decision."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from approval_hub import APPROVALS, TENANT, Hub, form_of, links_of, local, serving

from highway_triggers.fixtures import database_of
from highway_triggers.plugin import SECURITY_HEADERS
from highway_triggers.testing import running_engine

SETTLE_SECONDS = 0.3


@pytest.fixture(scope="module")
def hub(sqlite_hub: Hub) -> Hub:
    return sqlite_hub


@pytest.fixture(scope="module")
def no_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A gateway without ``HIGHWAY_SMTP_URL``."""
    tmp_path = tmp_path_factory.mktemp("approval-no-smtp")
    with (
        running_engine() as (engine, engine_url),
        database_of("sqlite", tmp_path) as database,
        serving(database, tmp_path, engine, engine_url, smtp=False) as hub,
    ):
        yield hub


def body(hub: Hub, **fields: Any) -> dict[str, Any]:
    return {
        "tenant_id": TENANT,
        "workflow_run_id": hub.name("run"),
        "approval_key": hub.name("key"),
        "title": "Refund order 42",
        "approvers": hub.approvers(2),
        **fields,
    }


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"approvers": []}, "approvers"),
    ({"approvers": ["not an address"]}, "approvers.0"),
    ({"approvers": ["a@example.org\r\nBcc: all@example.org"]}, "approvers.0"),
    ({"approvers": ["a@example.org", "A@example.org"]}, "approvers"),
    ({"required_approvals": 3}, "required_approvals"),
    ({"required_approvals": 0}, "required_approvals"),
    ({"requested_by": "me@example.org", "approvers": ["me@example.org"]}, "requested_by"),
    ({"title": ""}, "title"),
    ({"title": "two\nlines"}, "title"),
    ({"description": "a\x07b"}, "description"),
    ({"tenant_id": "../acme"}, "tenant_id"),
    ({"expires_in_seconds": 0}, "expires_in_seconds"),
    ({"expires_in_seconds": 400 * 86400}, "expires_in_seconds"),
    ({"redirect_url_approved": "javascript:alert(1)"}, "redirect_url_approved"),
    ({"redirect_url_rejected": "https://a.example/ b"}, "redirect_url_rejected"),
    ({"notify": "sms"}, "notify"),
    ({"one_click": "yes"}, "one_click"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("fields", "field"), INVALID, ids=[f for _, f in INVALID])
def test_an_invalid_body_is_a_422_naming_the_field(
    hub: Hub, fields: dict[str, Any], field: str
) -> None:
    answer = hub.admin.post(APPROVALS, json=body(hub, **fields))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_admin_only_and_unknown_approvals(hub: Hub) -> None:
    assert hub.browser.post(APPROVALS, json=body(hub)).status_code == 401
    assert hub.browser.get(f"{APPROVALS}/x").status_code == 401
    missing = hub.admin.get(f"{APPROVALS}/no-such-approval")
    assert (missing.status_code, missing.json()["code"]) == (404, "APPROVAL_NOT_FOUND")
    assert hub.admin.post(APPROVALS, content=b"{").json()["code"] == "MALFORMED_BODY"


def test_the_same_key_answers_the_same_approval(hub: Hub) -> None:
    sent = body(hub)
    first = hub.admin.post(APPROVALS, json=sent)
    again = hub.admin.post(APPROVALS, json={**sent, "title": "changed"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # the same approval, links included
    other = hub.admin.post(APPROVALS, json={**sent, "tenant_id": "beta"})
    assert other.status_code == 201 and other.json()["approval_id"] != first.json()["approval_id"]
    for approver in sent["approvers"]:
        hub.mailbox.to(approver, 2)  # one email from each tenant's approval, no more
    time.sleep(SETTLE_SECONDS)
    assert [len(hub.mailbox.to(a)) for a in sent["approvers"]] == [2, 2]


def test_email_needs_smtp_and_none_sends_nothing(no_smtp: Hub) -> None:
    refused = no_smtp.admin.post(APPROVALS, json=body(no_smtp))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "notify"
    asked = no_smtp.ask(notify="none")
    assert no_smtp.submit(asked["approve_url"]).status_code == 200
    assert no_smtp.resumed(asked["workflow_run_id"])["status"] == "approved"
    status = no_smtp.status(asked["approval_id"])
    assert status["notified_at"] is None and status["approvers"][0]["notify_attempts"] == 0
    assert no_smtp.mailbox.messages == []
    health = no_smtp.admin.get("/health/detailed").json()["plugins_health"]
    assert health["highway-triggers-approval"]["smtp"] is False


def test_approval_pending_and_approval_triggers(hub: Hub) -> None:
    """The tenant's ``EVENT`` trigger on ``approval_pending`` starts when an approval is
    asked for; its ``APPROVAL`` trigger on ``rejected`` when one is rejected, not approved."""
    tenant = "gamma"
    hub.admin.post(
        "/api/v1/deployment/workflows/on-pending/deploy",
        json={
            "tenant_id": tenant,
            "triggers": [{"type": "EVENT", "config": {"event_type": "approval_pending"}}],
        },
    ).raise_for_status()
    hub.admin.post(
        "/api/v1/deployment/workflows/on-rejected/deploy",
        json={
            "tenant_id": tenant,
            "triggers": [{"type": "APPROVAL", "config": {"statuses": ["rejected"]}}],
        },
    ).raise_for_status()
    rejected = hub.ask(tenant_id=tenant, notify="none")
    (pending,) = hub.engine.started("on-pending")
    data = pending.body["trigger_data"]
    assert (data["approval_id"], data["title"]) == (rejected["approval_id"], rejected["title"])
    assert hub.submit(rejected["reject_url"]).status_code == 200
    (start,) = hub.engine.started("on-rejected")
    assert start.body["trigger_type"] == "APPROVAL"
    assert start.body["trigger_data"] == hub.resumed(rejected["workflow_run_id"])
    approved = hub.ask(tenant_id=tenant, notify="none")
    assert hub.submit(approved["approve_url"]).status_code == 200
    hub.resumed(approved["workflow_run_id"])
    time.sleep(SETTLE_SECONDS)
    assert len(hub.engine.starts("on-rejected")) == 1
    assert len(hub.engine.starts("on-pending")) == 2
    invalid = hub.admin.post(
        "/api/v1/deployment/workflows/bad/deploy",
        json={"triggers": [{"type": "APPROVAL", "config": {"statuses": ["maybe"]}}]},
    )
    assert invalid.status_code == 422 and "statuses" in invalid.text


def test_one_click_links_decide_at_once(hub: Hub) -> None:
    asked = hub.ask(notify="none", one_click=True, approvers=hub.approvers(1))
    done = hub.open(asked["approve_url"])
    assert done.status_code == 200 and "Thank you" in done.text
    assert hub.resumed(asked["workflow_run_id"])["status"] == "approved"
    assert hub.open(asked["approve_url"]).status_code == 410  # used

    redirected = hub.ask(
        notify="none",
        one_click=True,
        approvers=hub.approvers(1),
        redirect_url_rejected="https://app.example/rejected?order=42",
    )
    answer = hub.open(redirected["reject_url"])
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://app.example/rejected?order=42"
    assert answer.headers["referrer-policy"] == "no-referrer"  # the link's token stays here
    assert hub.resumed(redirected["workflow_run_id"])["status"] == "rejected"


def test_a_decision_redirects_where_the_request_says(hub: Hub) -> None:
    asked = hub.ask(
        notify="none",
        approvers=hub.approvers(1),
        redirect_url_approved="https://app.example:8443/done",
    )
    page = hub.open(asked["approve_url"])
    policy = page.headers["content-security-policy"]
    assert "form-action 'self' https://app.example:8443;" in policy
    assert (
        policy.replace(" https://app.example:8443", "")
        == SECURITY_HEADERS["Content-Security-Policy"]
    )
    answer = hub.post_form(asked["approve_url"], form_of(page.text))
    assert (answer.status_code, answer.headers["location"]) == (
        302,
        "https://app.example:8443/done",
    )
    assert hub.resumed(asked["workflow_run_id"])["status"] == "approved"
    reject_page = hub.open(asked["reject_url"])  # no URL for a rejection: the usual policy
    assert reject_page.status_code == 410


def test_the_email_of_a_markdown_description(hub: Hub) -> None:
    (approver,) = approvers = hub.approvers(1)
    description = (
        "Refund **$120** to <customer>\n\n- order `#42`\n- [ticket](https://help.example/t/7)"
    )
    hub.ask(approvers=approvers, description=description)
    (message,) = hub.mailbox.to(approver)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert description in text.replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Refund <strong>$120</strong> to &lt;customer&gt;" in html
    assert "<li>order <code>#42</code></li>" in html
    assert '<a href="https://help.example/t/7" rel="noopener noreferrer">ticket</a>' in html
    assert '<html lang="en">' in html
    assert set(links_of(message)) == {"approve", "reject"}
    assert local(links_of(message)["approve"]).startswith("/api/v1/approvals/")
