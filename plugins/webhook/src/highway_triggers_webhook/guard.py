"""The checks a webhook request passes before anything is written: sender address, body
size, signature. What passes is captured as trigger data."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from highway_triggers.core.auth_objects import AuthObject, Check, HmacAuth, Unseal
from highway_triggers.core.capture import capture_request
from highway_triggers.core.http import read_body
from highway_triggers.core.ipfilter import Networks, check_allowed, client_address
from highway_triggers_webhook.options import WebhookOptions


@dataclass(frozen=True, slots=True)
class Guard:
    """One endpoint's checks, built once from its options and (sealed) auth object."""

    check: Check
    allowlist: Networks
    max_body_bytes: int
    redact: tuple[str, ...]

    @classmethod
    def build(cls, options: WebhookOptions, auth: AuthObject, unseal: Unseal) -> Guard:
        return cls(
            check=auth.check(unseal, options.timestamp_tolerance_seconds),
            allowlist=Networks(options.ip_allowlist),
            max_body_bytes=options.max_body_bytes,
            redact=(auth.header,) if isinstance(auth, HmacAuth) else (),
        )

    async def admit(self, request: Request, trusted: Networks) -> dict[str, Any]:
        """The captured request; 401 (address, signature) or 413 (size) otherwise."""
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.get("x-forwarded-for"), trusted)
        check_allowed(address, self.allowlist)
        body = await read_body(request, self.max_body_bytes)
        self.check(request.headers, body, time.time())
        return capture_request(
            request, body, None if address is None else str(address), self.redact
        )
