"""The body of ``POST /api/v1/approvals`` and the rules of its fields."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator

from highway_triggers.plugin import Identifier, Printable, RequestBody
from highway_triggers_approval.settings import MAX_EXPIRY_SECONDS

MAX_APPROVERS = 50
DESCRIPTION_MAX_LENGTH = 10_000
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"
)
"""An address the emails can be sent to: no display name, no spaces, quotes or brackets."""
_URL = re.compile(r"^https?://[^\s/?#@]+[^\s]*$")
Text = Annotated[str, StringConstraints(min_length=1, max_length=512), Printable]
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


def _redirect(value: str) -> str:
    if not _URL.fullmatch(value) or not value.isprintable():
        raise ValueError("must be an http:// or https:// URL")
    return value


def _multiline(value: str) -> str:
    if any(not (c.isprintable() or c in "\n\r\t") for c in value):
        raise ValueError("no control characters but line breaks and tabs")
    return value


RedirectUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_redirect)]
Multiline = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH), AfterValidator(_multiline)
]


class ApprovalRequest(RequestBody):
    """What an engine asks for: who approves what, how many must, until when."""

    tenant_id: Identifier
    workflow_run_id: Text
    """The suspended run, resumed once with the outcome."""
    workflow_id: Identifier | None = None
    approval_key: Text
    """With ``tenant_id``, makes the request idempotent: the same key answers the same approval."""
    title: Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
    description: Multiline = ""
    """Plain text, or limited Markdown (paragraphs, lists, **bold**, *italic*, `code`,
    [links](https://…)); shown escaped."""
    approvers: list[Email] = Field(min_length=1, max_length=MAX_APPROVERS)
    required_approvals: int = Field(default=1, ge=1, le=MAX_APPROVERS)
    allow_self_approval: bool = False
    requested_by: Email | None = None
    """Who asked: unless ``allow_self_approval``, their approval does not count (refused)."""
    expires_in_seconds: float | None = Field(default=None, gt=0, le=MAX_EXPIRY_SECONDS)
    """Default ``HIGHWAY_APPROVAL_DEFAULT_EXPIRY_SECONDS``; the run resumes with
    ``expired`` then."""
    redirect_url_approved: RedirectUrl | None = None
    redirect_url_rejected: RedirectUrl | None = None
    notify: Literal["email", "none"] = "email"
    one_click: bool = False
    """The links decide on ``GET`` at once, without the confirmation page: only where no
    link scanner opens them."""

    @field_validator("approvers")
    @classmethod
    def _distinct(cls, approvers: list[str]) -> list[str]:
        seen = [a.casefold() for a in approvers]
        if len(set(seen)) != len(seen):
            raise ValueError("an approver is listed twice")
        return approvers

    @field_validator("required_approvals")
    @classmethod
    def _reachable(cls, required: int, info: ValidationInfo) -> int:
        approvers = info.data.get("approvers")
        if approvers is not None and required > len(approvers):
            raise ValueError(f"more than the {len(approvers)} approvers listed")
        return required

    @field_validator("requested_by")
    @classmethod
    def _enough_without_requester(cls, requester: str | None, info: ValidationInfo) -> str | None:
        approvers, required = info.data.get("approvers"), info.data.get("required_approvals")
        if requester is None or approvers is None or required is None:
            return requester
        if info.data.get("allow_self_approval"):
            return requester
        others = [a for a in approvers if a.casefold() != requester.casefold()]
        if len(others) < required:
            raise ValueError(
                f"{required} approvals are required but only {len(others)} approvers are not "
                "the requester (who may not approve: allow_self_approval is false)"
            )
        return requester
