"""What WEBHOOK triggers and per-run webhooks share: limits, dedup and how to answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import JSONResponse, Response

from highway_triggers.plugin import AuthObject, IngressGuard, Networks, RequestBody

HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")]
HeaderValue = Annotated[str, Field(max_length=8192, pattern=r"^[^\r\n]*$")]
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
MAX_BODY_BYTES = 1024 * 1024


class Answer(RequestBody):
    """An HTTP answer: a static ``response``, or what a run posts for a held request.

    A string ``body`` is sent as text, any other JSON value as JSON, ``null`` as no body.
    """

    model_config = ConfigDict(frozen=True)

    status: int = Field(default=200, ge=100, le=599)
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=64)
    body: Any = None

    @field_validator("headers")
    @classmethod
    def _no_framing(cls, headers: dict[str, str]) -> dict[str, str]:
        if framing := FRAMING_HEADERS & {name.lower() for name in headers}:
            raise ValueError(f"the gateway sets {', '.join(sorted(framing))} itself")
        return headers

    def to_response(self) -> Response:
        """This answer as a Starlette response."""
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        if isinstance(self.body, str):
            return Response(self.body, self.status, self.headers, media_type="text/plain")
        return JSONResponse(self.body, self.status, self.headers)


class WebhookOptions(BaseModel):
    """Checks and answers of one webhook endpoint (a trigger's path or a per-run URL)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp_tolerance_seconds: float = Field(default=300, gt=0)
    """How far a signed timestamp may be from the gateway's clock (Standard Webhooks, Stripe)."""
    ip_allowlist: list[str] = Field(default_factory=list, max_length=256)
    """CIDRs (IPv4 or IPv6) the sender must be in; empty = anyone."""
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1)
    """Larger bodies are refused with 413 (``HIGHWAY_MAX_BODY_BYTES`` caps every route)."""
    dedup_header: HeaderName | None = None
    """A delivery id header (``webhook-id``, ``Idempotency-Key``): a redelivery within
    ``dedup_retention_seconds`` is answered as a duplicate and starts nothing."""
    dedup_retention_seconds: float | None = Field(default=None, gt=0)
    """How long a delivery id is remembered; default and upper bound
    ``HIGHWAY_DELIVERY_RETENTION_HOURS`` (72 h), after which old ids are pruned."""
    response: Literal["accepted", "wait"] | Answer = "accepted"
    """``accepted`` (202 and the contract's body), a static answer, or ``wait``: hold the
    request until the run answers it, at most ``response_timeout_seconds``, else 202."""
    response_timeout_seconds: float = Field(default=10, gt=0, le=300)
    """How long ``wait`` holds a request before answering 202."""

    def guard(self, auth: AuthObject, unseal: Callable[[str], str]) -> IngressGuard:
        """The checks of this endpoint for requests signed as ``auth`` (its secrets sealed)."""
        return IngressGuard.build(
            auth,
            unseal,
            tolerance=self.timestamp_tolerance_seconds,
            ip_allowlist=self.ip_allowlist,
            max_body_bytes=self.max_body_bytes,
        )

    @field_validator("ip_allowlist")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        Networks(cidrs)  # a ValueError names the bad entry
        return cidrs

    @field_validator("response", mode="before")
    @classmethod
    def _accepted_alias(cls, value: Any) -> Any:
        return "accepted" if value in (202, "202") else value
