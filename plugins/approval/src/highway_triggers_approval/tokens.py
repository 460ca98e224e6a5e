"""The approvers' links: one signed token per approver and decision (the core's
``SignedLinks``: HMAC under ``HIGHWAY_SECRET_KEY``, expiring, single use), carrying the
approval, the approver and the decision it makes."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote, urlencode

from highway_triggers.plugin import LinkError, SignedLinks

PURPOSE = "approval"
Decision = Literal["approve", "reject"]
DECISIONS: tuple[Decision, ...] = ("approve", "reject")


def issue(
    links: SignedLinks, approval_id: str, approver: str, ttl_seconds: float
) -> dict[str, str]:
    """The approver's two tokens, by decision."""
    return {
        decision: links.issue(
            PURPOSE,
            {"approval_id": approval_id, "approver": approver, "decision": decision},
            ttl_seconds,
        )
        for decision in DECISIONS
    }


def respond_path(approval_id: str) -> str:
    return f"/api/v1/approvals/{quote(approval_id, safe='')}/respond"


def url(base_url: str, approval_id: str, decision: Decision, token: str) -> str:
    """The link an approver opens."""
    query = urlencode({"decision": decision, "token": token})
    return f"{base_url}{respond_path(approval_id)}?{query}"


def approver_of(claims: dict[str, Any], approval_id: str, decision: str) -> str:
    """The approver a verified token names, once it is this approval's token for this
    decision; 403 ``INVALID_LINK`` for another approval's token or a swapped decision."""
    if claims.get("approval_id") != approval_id:
        raise LinkError("INVALID_LINK", "this link is for another approval")
    if claims.get("decision") != decision:
        raise LinkError("INVALID_LINK", f"this link does not {decision} the request")
    approver = claims.get("approver")
    if not isinstance(approver, str) or not approver:
        raise LinkError("INVALID_LINK", "this link is not valid")
    return approver
