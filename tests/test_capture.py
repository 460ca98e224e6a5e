"""Request capture for trigger data (core/capture.py): redaction and body decoding."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request

from highway_triggers.core.capture import REDACTED, capture_request, decode_body, redact_headers


def test_credentials_and_signatures_are_redacted() -> None:
    headers = redact_headers(
        [
            ("Authorization", "Bearer abc"),
            ("Cookie", "session=1"),
            ("X-Hub-Signature-256", "sha256=00"),
            ("Stripe-Signature", "t=1,v1=00"),
            ("X-Auth-Token", "t"),
            ("X-Custom-Sig", "00"),
            ("Webhook-Id", "msg_1"),
            ("Accept", "a"),
            ("Accept", "b"),
        ],
        redact=["x-custom-sig"],
    )
    assert headers == {
        "authorization": REDACTED,
        "cookie": REDACTED,
        "x-hub-signature-256": REDACTED,
        "stripe-signature": REDACTED,
        "x-auth-token": REDACTED,
        "x-custom-sig": REDACTED,
        "webhook-id": "msg_1",
        "accept": "a, b",
    }


def test_bodies_are_decoded_by_content_type() -> None:
    assert decode_body(b'{"a": [1]}', "application/json; charset=utf-8") == {
        "body": {"a": [1]},
        "body_encoding": "json",
    }
    assert decode_body(b"[1]", "application/vnd.api+json")["body"] == [1]
    assert decode_body(b"a=1&b=2&a=3&c=", "application/x-www-form-urlencoded") == {
        "body": {"a": ["1", "3"], "b": "2", "c": ""},
        "body_encoding": "form",
    }
    assert decode_body(b"", "application/json") == {"body": None, "body_encoding": "none"}
    for raw, content_type in (
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"<xml/>", "application/xml"),
        (b"\x00\x01", None),
    ):
        decoded = decode_body(raw, content_type)
        assert decoded["body_encoding"] == "base64"
        assert base64.b64decode(decoded["body"]) == raw


def test_capture_request() -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "PUT",
        "path": "/api/v1/public/webhook/orders",
        "query_string": b"x=1&x=2&y=",
        "headers": [(b"content-type", b"text/plain"), (b"authorization", b"Basic Zm9v")],
    }
    captured = capture_request(Request(scope), b"hello", "192.0.2.1")
    assert captured == {
        "method": "PUT",
        "path": "/api/v1/public/webhook/orders",
        "query": {"x": ["1", "2"], "y": ""},
        "headers": {"content-type": "text/plain", "authorization": REDACTED},
        "client_ip": "192.0.2.1",
        "content_type": "text/plain",
        "body": base64.b64encode(b"hello").decode(),
        "body_encoding": "base64",
    }
