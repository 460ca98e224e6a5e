"""The checks an ingress request passes before anything is written, in this order: the
sender's address (behind trusted proxies) against the allow-list, the body's size, the
signature or credentials. What passes is captured as trigger data; what does not is
written to the delivery log as ``refused``.

:func:`admit_first` verifies before routing, when the trigger a request is for is known only
once one of several triggers' secrets has verified it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from highway_triggers.core.auth_objects import AuthObject, Check, Unseal
from highway_triggers.core.capture import capture_request
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import payload_too_large, read_body
from highway_triggers.core.ipfilter import Networks, check_allowed, client_address
from highway_triggers.core.trigger import BaseTrigger

T = TypeVar("T")
UNKNOWN_SOURCE = "UNKNOWN"
"""The delivery log's ``source`` of a refusal when neither a trigger nor a source is named."""


class Admitted:
    """A request that passed a guard."""

    __slots__ = ("_data", "_redact", "_request", "body", "client_ip")

    def __init__(
        self, request: Request, body: bytes, client_ip: str | None, redact: tuple[str, ...]
    ) -> None:
        self.body = body
        """The raw body, read once."""
        self.client_ip = client_ip
        self._request = request
        self._redact = redact
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The captured request (:func:`~highway_triggers.core.capture.capture_request`),
        made on first use: a route that builds its own trigger data never pays for it."""
        if self._data is None:
            self._data = capture_request(self._request, self.body, self.client_ip, self._redact)
        return self._data


@dataclass(frozen=True, slots=True)
class IngressGuard:
    """One endpoint's checks, built once from its (sealed) auth object and limits."""

    check: Check
    allowlist: Networks
    max_body_bytes: int
    redact: tuple[str, ...]
    """Headers hidden in the captured data, besides those capture always hides."""

    @classmethod
    def build(
        cls,
        auth: AuthObject,
        unseal: Unseal,
        *,
        tolerance: float = 300,
        ip_allowlist: Iterable[str] = (),
        max_body_bytes: int,
    ) -> IngressGuard:
        """The guard of ``auth``; ``tolerance`` bounds signed timestamps (seconds)."""
        return cls(
            check=auth.check(unseal, tolerance),
            allowlist=Networks(ip_allowlist),
            max_body_bytes=max_body_bytes,
            redact=auth.redacted_headers,
        )

    async def admit(
        self,
        request: Request,
        trusted: Networks,
        *,
        trigger: BaseTrigger | None = None,
        source: str | None = None,
        delivery_id: str | None = None,
    ) -> Admitted:
        """The admitted request; else 401 ``IP_NOT_ALLOWED``, 413 ``PAYLOAD_TOO_LARGE`` or
        the signature's 401, checked in that order. ``trusted``: the proxies whose
        ``X-Forwarded-For`` is believed. A refusal is logged under ``source`` (default:
        the subtype of ``trigger``, the trigger the request is for), naming ``trigger``
        and the sender's ``delivery_id``."""
        _, admitted = await admit_first(
            request, trusted, [(trigger, self)], source=source, delivery_id=delivery_id
        )
        return admitted

    def _verify_body(self, request: Request, body: bytes, now: float) -> None:
        """Size and signature, once the sender's address has passed."""
        if len(body) > self.max_body_bytes:
            raise payload_too_large(self.max_body_bytes)
        self.check(request.headers, body, now)


async def admit_first(
    request: Request,
    trusted: Networks,
    candidates: Sequence[tuple[T, IngressGuard]],
    *,
    source: str | None = None,
    delivery_id: str | None = None,
    body: bytes | None = None,
) -> tuple[T, Admitted]:
    """The first candidate whose guard admits the request, and what it admitted.

    The body is read once, when a candidate's allow-list first lets the sender through;
    each candidate then checks address, size and signature as :meth:`IngressGuard.admit`
    does. When none admits the request, the first candidate's error is raised, and the
    refusal logged under ``source`` (default: the subtype of the first candidate that is
    a trigger), naming the candidates that are triggers and ``delivery_id``. ``body``: the
    body when the route has read it already (``await request.body()``); the limits apply
    to it all the same.
    """
    if not candidates:
        raise ValueError("admit_first needs at least one candidate")
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), trusted)
    limit = max(guard.max_body_bytes for _, guard in candidates)
    now = time.time()
    first_error: HTTPError | None = None
    for value, guard in candidates:
        try:
            check_allowed(address, guard.allowlist)
            if body is None:
                body = await read_body(request, limit)
            guard._verify_body(request, body, now)
        except HTTPError as error:
            first_error = first_error or error
            if body is None and error.status == 413:
                break  # too large for every candidate; the stream is spent
            continue
        client_ip = None if address is None else str(address)
        return value, Admitted(request, body, client_ip, guard.redact)
    assert first_error is not None
    triggers = [value for value, _ in candidates if isinstance(value, BaseTrigger)]
    _log_refusal(request, first_error, source, triggers, delivery_id)
    raise first_error


def _log_refusal(
    request: Request,
    error: HTTPError,
    source: str | None,
    triggers: Sequence[BaseTrigger],
    delivery_id: str | None,
) -> None:
    """Log the refusal in the gateway serving ``request``, if it is served by one."""
    context = getattr(getattr(request.scope.get("app"), "state", None), "gateway", None)
    if context is None:
        return
    first = triggers[0] if triggers else None
    context.router.refused(
        source or (first.subtype if first else UNKNOWN_SOURCE),
        error,
        tenant_id=first.tenant_id if first else None,
        triggers=triggers,
        delivery_id=delivery_id,
    )
