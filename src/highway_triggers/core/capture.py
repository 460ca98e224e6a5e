"""What ingress keeps of an HTTP request as trigger data: method, path, query, headers with
credentials redacted, the body (JSON parsed, form fields decoded, anything else base64
with its content type) and the client address.

A JSON body is parsed as strictly as every route's (:mod:`highway_triggers.core.json_body`):
one that is not JSON at all is kept as base64, but JSON the gateway does not take (too deep,
duplicate keys, ``NaN``, a NUL or a lone surrogate, an integer past 64 bits) is refused with
its 400 rather than kept as something else. So is a query or form field with a NUL
character (``%00``), which PostgreSQL cannot store: 400 ``UNSUPPORTED_CHARACTER``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import FORM, max_json_depth, media_type
from highway_triggers.core.json_body import DEFAULT_MAX_DEPTH, MalformedJSON, parse_json

REDACTED = "[REDACTED]"
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
SENSITIVE_WORDS = ("secret", "token", "password", "signature", "api-key", "apikey")
"""A header whose name contains one of these is redacted too (``X-Hub-Signature-256`` …)."""


def capture_request(
    request: Request, body: bytes, client_ip: str | None, redact: Iterable[str] = ()
) -> dict[str, Any]:
    """The request as trigger data; ``redact`` names more headers to hide. A JSON body the
    gateway does not take, or a NUL in a query or form field, raises its 400."""
    content_type = request.headers.get("content-type")
    return {
        "method": request.method,
        "path": request.url.path,
        "query": multi_dict(parse_qsl(request.url.query, keep_blank_values=True), "query"),
        "headers": redact_headers(request.headers.items(), redact),
        "client_ip": client_ip,
        "content_type": content_type,
        **decode_body(body, content_type, max_json_depth(request)),
    }


def redact_headers(
    headers: Iterable[tuple[str, str]], redact: Iterable[str] = ()
) -> dict[str, str]:
    """Headers by lower-case name (repeats joined with ``, ``), credentials replaced."""
    hidden = {name.lower() for name in redact}
    found: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name in hidden or _sensitive(name):
            value = REDACTED
        found[name] = f"{found[name]}, {value}" if name in found and value != REDACTED else value
    return found


def decode_body(
    body: bytes, content_type: str | None, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """``{"body", "body_encoding"}``: ``json``, ``form``, ``base64``, or ``none`` when empty.

    A JSON body that is JSON, but not JSON the gateway takes, raises the 400 of
    :func:`~highway_triggers.core.json_body.parse_json` (nesting past ``max_depth`` …); a
    form field with a NUL, 400 ``UNSUPPORTED_CHARACTER``.
    """
    if not body:
        return {"body": None, "body_encoding": "none"}
    media = media_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        try:
            return {"body": parse_json(body, max_depth), "body_encoding": "json"}
        except MalformedJSON:
            pass  # not JSON at all: kept as base64
    elif media == FORM:
        try:
            fields = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
            return {"body": multi_dict(fields, "form"), "body_encoding": "form"}
        except (ValueError, UnicodeDecodeError):
            pass
    return {"body": base64.b64encode(body).decode(), "body_encoding": "base64"}


@functools.lru_cache(maxsize=1024)
def _sensitive(name: str) -> bool:
    return name in SENSITIVE_HEADERS or any(word in name for word in SENSITIVE_WORDS)


def multi_dict(pairs: Iterable[tuple[str, str]], what: str) -> dict[str, str | list[str]]:
    """Query or form fields (``what``): one value as a string, a repeated field as a list;
    400 ``UNSUPPORTED_CHARACTER`` for a NUL in a name or value."""
    found: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise HTTPError(
                400, "UNSUPPORTED_CHARACTER", f"the {what} field {name!a} holds a NUL character"
            )
        if name not in found:
            found[name] = value
        elif isinstance(current := found[name], list):
            current.append(value)
        else:
            found[name] = [current, value]
    return found
