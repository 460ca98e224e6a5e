"""The approvers' pages: ``GET …/respond`` shows what a link would decide and changes
nothing (a link scanner that opens it decides nothing); the form's ``POST`` records the
decision. Refusals are error pages, or the error body for a client that asks for JSON."""

from __future__ import annotations

from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers.plugin import (
    SECURITY_HEADERS,
    Admitted,
    ConfigError,
    GatewayContext,
    HTTPError,
    NoAuth,
    Pages,
    html_endpoint,
    operation,
    path_identifier,
)
from highway_triggers_approval import tokens
from highway_triggers_approval.decide import Answer, Recorded
from highway_triggers_approval.markdown import to_html
from highway_triggers_approval.service import ApprovalService
from highway_triggers_approval.store import PENDING
from highway_triggers_approval.trigger import SUBTYPE

COMMENT_MAX_LENGTH = 2_000
FORM_MAX_BYTES = 64 * 1024
USER_AGENT_MAX_LENGTH = 512
TOKEN_MAX_LENGTH = 4_096
PAGE = {"type": "string", "description": "an HTML page"}
FORM = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "maxLength": TOKEN_MAX_LENGTH},
        "decision": {"type": "string", "enum": list(tokens.DECISIONS)},
        "comment": {"type": "string", "maxLength": COMMENT_MAX_LENGTH},
    },
    "required": ["token"],
}
VERBS = {"approve": "Approve", "reject": "Reject"}
DONE = {"approve": "approved", "reject": "rejected"}
STANDING = {
    "approved": "The request is approved.",
    "rejected": "The request is rejected.",
}


class RespondPages:
    """The confirmation page, the decision and the thank-you page."""

    def __init__(self, context: GatewayContext, service: ApprovalService) -> None:
        self._context = context
        self._service = service
        self._pages = Pages("highway_triggers_approval")
        self._guard = context.guard(NoAuth(), max_body_bytes=FORM_MAX_BYTES)

    def routes(self) -> list[BaseRoute]:
        html = html_endpoint(self._pages)
        path = "/api/v1/approvals/{approval_id}/respond"
        return [
            Route(path, html(self.confirm), methods=["GET"]),
            Route(path, html(self.decide), methods=["POST"]),
        ]

    @operation(
        query={
            "decision": {"type": "string", "enum": list(tokens.DECISIONS)},
            "token": {"type": "string", "maxLength": TOKEN_MAX_LENGTH},
        },
        responses={200: PAGE, 302: None},
        media_type="text/html",
        errors=(403, 404, 409, 410),
    )
    async def confirm(self, request: Request) -> Response:
        """The page an approver's link opens: the request and one button that confirms the
        link's decision. It changes nothing, unless the approval was asked ``one_click``:
        then the link decides at once.

        403 ``INVALID_LINK`` (forged, altered, another approval's, the other decision's),
        ``SELF_APPROVAL``; 410 ``LINK_EXPIRED``, ``APPROVAL_CLOSED``; 409 ``ALREADY_ANSWERED``.
        """
        try:
            approval_id = path_identifier(request, "approval_id")
            decision = _decision(request.query_params.get("decision"))
            token = _token(request.query_params.get("token"))
            row, approver = await self._context.database.call(
                self._service.decisions.check, approval_id, token, decision
            )
            if row.one_click:
                admitted = await self._admit(request)
                return await self._record(request, admitted, approval_id, decision, token, None)
        except (HTTPError, ConfigError) as error:
            self._refused(error)
            raise
        redirect = row.redirect_url_approved if decision == "approve" else row.redirect_url_rejected
        return self._pages.render(
            "approval/confirm.html",
            headers=_allowing_form_to(redirect),
            title=row.title,
            description=to_html(row.description) if row.description else "",
            decision=decision,
            verb=VERBS[decision],
            approver=approver,
            token=token,
            expires=format_datetime(row.expires_at),
            comment_max=COMMENT_MAX_LENGTH,
        )

    @operation(
        body=FORM,
        body_media_type="application/x-www-form-urlencoded",
        responses={200: PAGE, 302: None},
        media_type="text/html",
        errors=(403, 404, 409, 410, 422),
    )
    async def decide(self, request: Request) -> Response:
        """Record the decision of the confirmation page's form (``token``, ``decision``,
        an optional ``comment``): a thank-you page, or a 302 to the request's
        ``redirect_url_approved`` / ``redirect_url_rejected``. The decision that reaches
        ``required_approvals``, or the first rejection, resumes the run, once.

        Refused as the page is, and 410 ``LINK_USED`` for a link used already.
        """
        try:
            approval_id = path_identifier(request, "approval_id")
            admitted = await self._admit(request)
            form = _form(admitted.body)
            token = _token(form.get("token"))
            decision = form.get("decision") or self._decision_of(token)
            comment = _comment(form.get("comment", ""))
            return await self._record(
                request, admitted, approval_id, _decision(decision), token, comment
            )
        except (HTTPError, ConfigError) as error:
            self._refused(error)
            raise

    async def _admit(self, request: Request) -> Admitted:
        """The body within its limit and the client's address (behind trusted proxies)."""
        return await self._guard.admit(request, self._context.trusted_proxies, source=SUBTYPE)

    def _decision_of(self, token: str) -> str:
        decision = self._context.links.verify(tokens.PURPOSE, token).get("decision")
        return decision if isinstance(decision, str) else ""

    async def _record(
        self,
        request: Request,
        admitted: Admitted,
        approval_id: str,
        decision: str,
        token: str,
        comment: str | None,
    ) -> Response:
        agent = request.headers.get("user-agent")
        recorded = await self._service.answer(
            Answer(
                approval_id=approval_id,
                decision=decision,
                token=token,
                comment=comment,
                client_ip=admitted.client_ip,
                user_agent=_printable(agent)[:USER_AGENT_MAX_LENGTH] if agent else None,
            )
        )
        if recorded.redirect_url is not None:
            return RedirectResponse(recorded.redirect_url, 302, headers=SECURITY_HEADERS)
        return self._pages.render(
            "approval/done.html",
            title=recorded.title,
            decision=DONE[recorded.decision],
            standing=_standing(recorded),
        )

    def _refused(self, error: HTTPError | ConfigError) -> None:
        """Count and log a refused link (the delivery log's ``refused``)."""
        refusal = (
            error
            if isinstance(error, HTTPError)
            else HTTPError(422, "VALIDATION_ERROR", str(error))
        )
        self._service.metrics.refused(refusal.code)
        if refusal.code != "PAYLOAD_TOO_LARGE":  # the guard logged it
            self._context.router.refused(SUBTYPE, refusal)


def _decision(value: str | None) -> str:
    if value not in tokens.DECISIONS:
        raise HTTPError(400, "INVALID_DECISION", "decision must be approve or reject")
    return value


def _token(value: str | None) -> str:
    if not value:
        raise HTTPError(400, "MISSING_TOKEN", "the link has no token")
    if len(value) > TOKEN_MAX_LENGTH:
        raise HTTPError(403, "INVALID_LINK", "this link is not valid")
    return value


def _form(body: bytes) -> dict[str, str]:
    """A form body's fields; 400 ``MALFORMED_BODY`` unless it is one, each field once."""
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=10, errors="strict")
    except ValueError:  # UnicodeDecodeError too
        pairs = None
    if pairs is None or len({name for name, _ in pairs}) != len(pairs):
        raise HTTPError(
            400, "MALFORMED_BODY", "the body must be a form of token, decision, comment"
        )
    return dict(pairs)


def _comment(value: str) -> str | None:
    text = value.strip()
    if len(text) > COMMENT_MAX_LENGTH:
        message = f"at most {COMMENT_MAX_LENGTH} characters"
        raise ConfigError([{"field": "comment", "message": message}])
    if any(not (c.isprintable() or c in "\n\r\t") for c in text):
        message = "no control characters but line breaks and tabs"
        raise ConfigError([{"field": "comment", "message": message}])
    return text or None


def _printable(value: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in value)


def _standing(recorded: Recorded) -> str:
    if recorded.status == PENDING:
        return (
            f"{recorded.approvals} of {recorded.required} approvals so far: the request stays "
            "open until enough approvers have answered."
        )
    return STANDING[recorded.status]


def _allowing_form_to(redirect: str | None) -> dict[str, str]:
    """The page's policy, letting its form's answer redirect to ``redirect``'s origin
    (browsers apply ``form-action`` to the redirect too)."""
    if redirect is None:
        return {}
    parts = urlsplit(redirect)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    origin = f"{parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": policy.replace(
            "form-action 'self'", f"form-action 'self' {origin}"
        )
    }
