"""What WEBHOOK triggers and per-run webhooks share: limits, dedup and how to answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from starlette.responses import JSONResponse, Response

from highway_triggers.plugin import AuthObject, HeaderName, IngressGuard, Networks, RequestBody

FIELD_VALUE = re.compile(r"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")
"""What HTTP/1.1 carries as a header value (RFC 9110 §5.5): visible ASCII and latin-1
(``obs-text``), spaces and tabs only between them."""
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
BODILESS_STATUSES = frozenset({204, 304})
MAX_BODY_BYTES = 1024 * 1024
MAX_SECONDS = 100 * 365 * 24 * 3600
"""Upper bound of the durations (a century: beyond, a number is a mistake, or 1e300)."""


def _field_value(value: str) -> str:
    if FIELD_VALUE.fullmatch(value) is None:
        raise ValueError(
            "a header value is visible ASCII or latin-1 characters with spaces or tabs "
            "between them: no CR, LF, NUL or other control characters, nothing outside "
            "latin-1, no leading or trailing whitespace"
        )
    return value


HeaderValue = Annotated[str, Field(max_length=8192), AfterValidator(_field_value)]


class Answer(RequestBody):
    """An HTTP answer: a static ``response``, or what a run posts for a held request.

    A string ``body`` is sent as text, any other JSON value as JSON, ``null`` as no body.
    """

    model_config = ConfigDict(frozen=True)

    status: int = Field(default=200, ge=200, le=599)
    """A final status: ``1xx`` are no answers."""
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=64)
    body: Any = None
    """``null`` for ``204`` and ``304``, which have no body."""

    @field_validator("headers")
    @classmethod
    def _no_framing(cls, headers: dict[str, str]) -> dict[str, str]:
        if framing := FRAMING_HEADERS & {name.lower() for name in headers}:
            raise ValueError(f"the gateway sets {', '.join(sorted(framing))} itself")
        return headers

    @field_validator("body")
    @classmethod
    def _bodiless(cls, body: Any, info: ValidationInfo) -> Any:
        if body is not None and info.data.get("status") in BODILESS_STATUSES:
            raise ValueError(f"a {info.data['status']} answer has no body: give null")
        return body

    def to_response(self) -> Response:
        """This answer as a Starlette response."""
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        if isinstance(self.body, str):
            return Response(self.body, self.status, self.headers, media_type="text/plain")
        return JSONResponse(self.body, self.status, self.headers)


def _response_kind(value: Any) -> str:
    """``static`` for an answer object, so that its errors name its own fields."""
    return "static" if isinstance(value, dict | Answer) else "mode"


class WebhookOptions(BaseModel):
    """Checks and answers of one webhook endpoint (a trigger's path or a per-run URL)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    timestamp_tolerance_seconds: float = Field(default=300, gt=0, le=MAX_SECONDS)
    """How far a signed timestamp may be from the gateway's clock (Standard Webhooks, Stripe)."""
    ip_allowlist: list[str] = Field(default_factory=list, max_length=256)
    """CIDRs (IPv4 or IPv6) the sender must be in; empty = anyone."""
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1, le=1 << 30)
    """Larger bodies are refused with 413 (``HIGHWAY_MAX_BODY_BYTES`` caps every route)."""
    dedup: bool = True
    """Whether a redelivery within ``dedup_retention_seconds`` is answered as a duplicate
    and starts nothing. Its delivery id is ``dedup_header``'s value, else the id the
    auth scheme defines (:meth:`AuthObject.delivery_id`: Standard Webhooks
    ``webhook-id``, Stripe's event ``id``); without one a request is not deduplicated."""
    dedup_header: HeaderName | None = None
    """A delivery id header (``webhook-id``, ``Idempotency-Key``, ``X-GitHub-Delivery``),
    used instead of the scheme's id."""
    dedup_retention_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    """How long a delivery id is remembered; default and upper bound
    ``HIGHWAY_DELIVERY_RETENTION_HOURS`` (72 h), after which old ids are pruned."""
    response: Annotated[
        Annotated[Literal["accepted", "wait"], Tag("mode")] | Annotated[Answer, Tag("static")],
        Discriminator(_response_kind),
    ] = "accepted"
    """``accepted`` (202 and the accepted body), a static answer, or ``wait``: hold the
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

    def delivery_id(self, auth: AuthObject, headers: Mapping[str, str], body: Any) -> str | None:
        """The id a redelivery of this request repeats, or ``None``: no dedup.

        ``body``: the parsed JSON body, else ``None``; ask only once ``auth`` admitted it."""
        if not self.dedup:
            return None
        if self.dedup_header is not None:
            return headers.get(self.dedup_header) or None
        return auth.delivery_id(headers, body)

    @field_validator("dedup_header")
    @classmethod
    def _dedup_on(cls, header: str | None, info: ValidationInfo) -> str | None:
        if header is not None and info.data.get("dedup") is False:
            raise ValueError("dedup is false: a dedup_header would not be used")
        return header

    @field_validator("ip_allowlist")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        Networks(cidrs)  # a ValueError names the bad entry
        return cidrs

    @field_validator("response", mode="before")
    @classmethod
    def _accepted_alias(cls, value: Any) -> Any:
        return "accepted" if value in (202, "202") else value
