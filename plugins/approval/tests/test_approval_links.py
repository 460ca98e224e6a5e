"""The approvers' links refused, never a 500: forged, altered, expired, for the other
decision, for another approval, used already; each is an error page (the error body for
a client that asks for JSON), changes nothing and is in the delivery log. And the
confirmation page itself: accessible, escaped, no script, the security headers."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from approval_hub import Hub, form_of, links_of, local, token_of

from highway_triggers.plugin import SECURITY_HEADERS
from highway_triggers.testing import wait_until

JSON = {"accept": "application/json"}


@pytest.fixture(scope="module")
def hub(sqlite_hub: Hub) -> Hub:
    return sqlite_hub


def asked(hub: Hub, count: int = 2, **fields: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A new approval of ``count`` approvers (all required) and each one's emailed links."""
    approvers = hub.approvers(count)
    answer = hub.ask(approvers=approvers, required_approvals=count, **fields)
    return answer, [links_of(hub.mailbox.to(a)[0]) for a in approvers]


def with_token(url: str, token: str, decision: str | None = None) -> str:
    """``url`` carrying another token (and decision)."""
    base, query = url.split("?", 1)
    fields = dict(part.split("=", 1) for part in query.split("&"))
    fields["token"] = token
    if decision is not None:
        fields["decision"] = decision
    return base + "?" + "&".join(f"{name}={value}" for name, value in fields.items())


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    found: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return found


def encoded(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def refused(hub: Hub, url: str, status: int, code: str) -> None:
    """Opening ``url`` and posting its form are both refused with ``status`` and ``code``,
    as a page and as the error body."""
    page = hub.open(url)
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"<code>{code}</code>" in page.text and "<script" not in page.text
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    body = hub.open(url, **JSON)
    assert (body.status_code, body.json()["code"]) == (status, code), body.text
    query = dict(pair.split("=", 1) for pair in url.split("?", 1)[1].split("&"))
    posted = hub.post_form(url, {"token": query["token"], "decision": query["decision"]}, **JSON)
    assert (posted.status_code, posted.json()["code"]) == (status, code), posted.text


def nothing_decided(hub: Hub, approval: dict[str, Any]) -> None:
    status = hub.status(approval["approval_id"])
    assert (status["status"], status["decisions"]) == ("pending", [])
    assert hub.resumes(approval["workflow_run_id"]) == []


def test_a_forged_token_is_refused(hub: Hub) -> None:
    approval, (links, _) = asked(hub)
    claims = claims_of(token_of(links["approve"]))
    forged = jwt.encode(claims, "not-the-gateway-key-but-long-enough", algorithm="HS256")
    refused(hub, with_token(links["approve"], forged), 403, "INVALID_LINK")
    unsigned = jwt.encode(claims, None, algorithm="none")
    refused(hub, with_token(links["approve"], unsigned), 403, "INVALID_LINK")
    for junk in ("abc", "a.b.c", "x" * 5000, "%00", "%FF%FE"):
        assert hub.open(with_token(links["approve"], junk)).status_code in (400, 403)
    nothing_decided(hub, approval)


def test_an_altered_token_is_refused(hub: Hub) -> None:
    approval, (first, second) = asked(hub)
    header, payload, signature = token_of(first["approve"]).split(".")
    claims = claims_of(token_of(first["approve"]))
    other = claims_of(token_of(second["approve"]))["claims"]["approver"]
    for change in (
        {"claims": {**claims["claims"], "approver": other}},
        {"claims": {**claims["claims"], "decision": "reject"}},
        {"exp": claims["exp"] + 3600},
    ):
        altered = f"{header}.{encoded({**claims, **change})}.{signature}"
        refused(hub, with_token(first["approve"], altered), 403, "INVALID_LINK")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    refused(hub, with_token(first["approve"], f"{header}.{payload}.{flipped}"), 403, "INVALID_LINK")
    nothing_decided(hub, approval)


def test_the_other_decision_and_another_approval(hub: Hub) -> None:
    approval, (links, _) = asked(hub)
    other, (others, _) = asked(hub)
    swapped = with_token(links["approve"], token_of(links["approve"]), decision="reject")
    refused(hub, swapped, 403, "INVALID_LINK")
    refused(hub, with_token(links["approve"], token_of(others["approve"])), 403, "INVALID_LINK")
    refused(hub, with_token(others["reject"], token_of(links["reject"])), 403, "INVALID_LINK")
    nothing_decided(hub, approval)
    nothing_decided(hub, other)


def test_an_expired_link_is_refused(hub: Hub) -> None:
    approval, (links, _) = asked(hub, expires_in_seconds=0.3)
    wait_until(lambda: "LINK_EXPIRED" in hub.open(links["approve"], **JSON).text, timeout=5)
    refused(hub, links["approve"], 410, "LINK_EXPIRED")
    assert hub.resumed(approval["workflow_run_id"])["status"] == "expired"


def test_a_used_link_and_an_approver_who_answered(hub: Hub) -> None:
    approval, (links, _) = asked(hub)
    page = hub.open(links["approve"])
    form = form_of(page.text)
    assert hub.post_form(links["approve"], form).status_code == 200
    again = hub.post_form(links["approve"], form)
    assert again.status_code == 410 and "<code>LINK_USED</code>" in again.text
    assert hub.post_form(links["approve"], form, **JSON).json()["code"] == "LINK_USED"
    refused(hub, links["reject"], 409, "ALREADY_ANSWERED")
    status = hub.status(approval["approval_id"])
    assert status["status"] == "pending" and len(status["decisions"]) == 1


def test_bad_requests_are_clear_4xx(hub: Hub) -> None:
    approval, (links, _) = asked(hub)
    path = local(links["approve"]).split("?")[0]
    token = token_of(links["approve"])
    checks: list[tuple[httpx.Response, int, str]] = [
        (hub.browser.get(path, params={"decision": "approve"}), 400, "MISSING_TOKEN"),
        (hub.browser.get(path, params={"token": token}), 400, "INVALID_DECISION"),
        (
            hub.browser.get(path, params={"token": token, "decision": "maybe"}),
            400,
            "INVALID_DECISION",
        ),
        (
            hub.browser.get(
                path.replace(approval["approval_id"], "-no-such"),
                params={"token": token, "decision": "approve"},
            ),
            400,
            "INVALID_IDENTIFIER",
        ),
        (hub.browser.post(path, data={"decision": "approve"}), 400, "MISSING_TOKEN"),
        (hub.browser.post(path, content=b"token=a&token=b"), 400, "MALFORMED_BODY"),
        (hub.browser.post(path, content=b"token=%FF"), 400, "MALFORMED_BODY"),
        (
            hub.browser.post(path, data={"token": token, "comment": "x" * 2001}),
            422,
            "VALIDATION_ERROR",
        ),
        (
            hub.browser.post(path, data={"token": token, "comment": "a\x00b"}),
            422,
            "VALIDATION_ERROR",
        ),
        (hub.browser.post(path, content=b"x" * 70_000), 413, "PAYLOAD_TOO_LARGE"),
    ]
    for answer, status, code in checks:
        assert answer.status_code == status, (code, answer.text)
        assert f"<code>{code}</code>" in answer.text, answer.text
    long = hub.browser.post(path, data={"token": token, "comment": "x" * 2001}, headers=JSON)
    assert long.json()["errors"] == [{"field": "comment", "message": "at most 2000 characters"}]
    nothing_decided(hub, approval)


def test_refusals_are_in_the_delivery_log(hub: Hub) -> None:
    _, (links, _) = asked(hub)

    def refusals() -> list[str]:
        query = {"source": "APPROVAL", "outcome": "refused", "limit": 500}
        rows = hub.admin.get("/api/v1/deliveries", params=query).json()["deliveries"]
        return [row["reason"] for row in rows]

    time.sleep(0.2)  # the refusals of the tests before are committed by then
    before = refusals()
    assert hub.open(with_token(links["approve"], "forged.token.here")).status_code == 403
    assert (
        hub.open(links["approve"].replace("decision=approve", "decision=maybe")).status_code == 400
    )

    def both_logged() -> list[str] | None:
        found = refusals()
        return found if len(found) >= len(before) + 2 else None

    after = wait_until(both_logged)
    assert after[:2] == [
        "INVALID_DECISION: decision must be approve or reject",
        "INVALID_LINK: this link is not valid",
    ]
    metrics = hub.browser.get("/metrics").text
    assert 'highway_approval_refused_total{code="INVALID_LINK"}' in metrics


def test_the_confirmation_page(hub: Hub) -> None:
    title = 'Pay <b>"ACME"</b> & co'
    description = (
        "Line one\nline <script>alert(1)</script> two\n\n- **first**\n- [x](javascript:alert(1))"
    )
    approval, (links, _) = asked(hub, title=title, description=description)
    page = hub.open(links["reject"])
    assert page.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    text = page.text
    assert text.startswith("<!doctype html>") and '<html lang="en">' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "<h1>Pay &lt;b&gt;&#34;ACME&#34;&lt;/b&gt; &amp; co</h1>" in text
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<ul><li><strong>first</strong></li><li>[x](javascript:alert(1))</li></ul>" in text
    assert "<a " not in text  # a link must be http(s): this one stays text
    assert '<label for="comment">' in text and '<textarea id="comment" name="comment"' in text
    assert text.count("<button") == 1 and ">Reject</button>" in text
    assert '<form method="post" action="respond">' in text
    assert form_of(text) == {"token": token_of(links["reject"]), "decision": "reject"}
    nothing_decided(hub, approval)
