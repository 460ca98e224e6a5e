"""The plugin's JSON routes, for engines (admin): ask for an approval, read its status."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers.plugin import (
    GatewayContext,
    HTTPError,
    admin,
    operation,
    path_identifier,
    read_object,
)
from highway_triggers_approval.request import ApprovalRequest
from highway_triggers_approval.respond import RespondPages
from highway_triggers_approval.service import ApprovalService


class ApproverState(BaseModel):
    email: str
    notified_at: str | None
    """When the approval email reached the SMTP server."""
    notify_attempts: int
    notify_error: str | None
    """Why the last attempt failed (it is retried while the approval is pending)."""
    message_id: str


class DecisionView(BaseModel):
    approver: str
    decision: str
    comment: str | None
    decided_at: str
    client_ip: str | None
    user_agent: str | None


class Approval(BaseModel):
    """An approval, every approver's email state and every decision."""

    approval_id: str
    status: str
    """``pending``, ``approved``, ``rejected`` or ``expired``."""
    tenant_id: str
    approval_key: str
    workflow_run_id: str
    workflow_id: str | None
    title: str
    description: str
    required_approvals: int
    allow_self_approval: bool
    requested_by: str | None
    one_click: bool
    notify: str
    redirect_url_approved: str | None
    redirect_url_rejected: str | None
    approved_by: list[str]
    approvers: list[ApproverState]
    decisions: list[DecisionView]
    notified_at: str | None
    """When the last approver's email went out, once every approver's has."""
    notify_error: str | None
    outcome: dict[str, Any] | None
    """What the run resumed with, once decided."""
    wait_id: str | None
    created_at: str
    expires_at: str
    decided_at: str | None
    resumed_at: str | None


class ApproverLinks(BaseModel):
    approver: str
    approve_url: str
    reject_url: str


class RequestedApproval(Approval):
    """The approval asked for, with each approver's links (``approve_url`` and
    ``reject_url`` are the first approver's)."""

    approve_url: str
    reject_url: str
    links: list[ApproverLinks]


class ApprovalApi:
    """One gateway's approval routes."""

    def __init__(self, context: GatewayContext) -> None:
        self.service = ApprovalService(context)
        self.pages = RespondPages(context, self.service)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/approvals", admin(self.request_approval), methods=["POST"]),
            Route("/api/v1/approvals/{approval_id}", admin(self.get_approval), methods=["GET"]),
            *self.pages.routes(),
        ]

    @operation(
        body=ApprovalRequest,
        responses={200: RequestedApproval, 201: RequestedApproval},
        errors=(409,),
    )
    async def request_approval(self, request: Request) -> Response:
        """Ask for an approval of a suspended run: 201 with its links; 200 with the same
        approval when the tenant asked with this ``approval_key`` before.

        The run resumes once with the outcome (``approved``, ``rejected`` or ``expired``);
        with ``notify: email`` each approver is emailed their links.
        """
        body = ApprovalRequest.parse(await read_object(request))
        approval, created = await self.service.request(body)
        return JSONResponse(approval, status_code=201 if created else 200)

    @operation(responses={200: Approval}, errors=(404,))
    async def get_approval(self, request: Request) -> Response:
        """An approval: its status, each approver's email and every decision."""
        approval_id = path_identifier(request, "approval_id")
        found = await self.service.view(approval_id)
        if found is None:
            raise HTTPError(404, "APPROVAL_NOT_FOUND", f"no approval {approval_id!r}")
        return JSONResponse(found)
