"""Properties of the signature-header parsers (core/signatures.py), through the auth
objects that use them (core/auth_objects.py): whatever the headers of a request hold,
a check returns or refuses with its documented 401, nothing else; a request signed as
its scheme says always verifies, and fails once its body changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from highway_triggers.core.auth_objects import AUTH, AuthObject
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.signatures import (
    INVALID_CREDENTIALS,
    INVALID_SIGNATURE,
    MAX_SIGNATURES,
    TIMESTAMP_OUT_OF_RANGE,
)

NOW = 1_700_000_000
TOLERANCE = 300
KEY = b"standard-webhooks-key"
AUTHS: dict[str, dict[str, Any]] = {
    "standard-webhooks": {"secret": "whsec_" + base64.b64encode(KEY).decode()},
    "stripe": {"secret": "whsec_stripe-endpoint-secret"},
    "github": {"secrets": ["old-github-secret", "github-secret"]},
    "slack": {"signing_secret": "slack-signing-secret"},
    "hmac": {"secret": "hmac-secret", "header": "X-Signature", "prefix": "sha256="},
    "bearer": {"token": "bearer-token"},
    "basic": {"username": "user", "password": "password"},
}
HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-slack-request-timestamp",
    "x-slack-signature",
    "x-signature",
    "authorization",
)
"""Every header the schemes above read."""
REFUSALS = {INVALID_SIGNATURE, TIMESTAMP_OUT_OF_RANGE, INVALID_CREDENTIALS}

latin1 = st.text(st.characters(max_codepoint=0xFF))
"""A header value as Starlette hands it over: bytes, decoded as latin-1."""
digits = st.integers(-(10**13), 10**13).map(str)
hexes = st.binary(max_size=40).map(bytes.hex)
b64 = st.binary(max_size=70).map(lambda raw: base64.b64encode(raw).decode())
fragment = st.one_of(
    latin1,
    digits,
    hexes,
    b64,
    st.tuples(
        st.sampled_from(["v1,", "v1a,", "v0=", "v1=", "t=", "sha256=", "Bearer ", "Basic "]),
        st.one_of(hexes, b64, digits, latin1),
    ).map("".join),
)
"""Values shaped like the schemes' own (timestamps, hex and base64 signatures, their
prefixes), so that the parsers are reached past their first check."""
header_value = st.lists(fragment, max_size=MAX_SIGNATURES + 2).flatmap(
    lambda parts: st.sampled_from([" ", ",", ", "]).map(lambda sep: sep.join(parts))
)


def check_of(kind: str, **config: Any) -> Any:
    auth: AuthObject = AUTH.validate_python({"type": kind, **(config or AUTHS[kind])})
    return auth.check(lambda sealed: sealed, TOLERANCE)  # plaintext secrets: nothing to unseal


def headers(values: dict[str, str]) -> Headers:
    return Headers(raw=[(k.lower().encode(), v.encode("latin-1")) for k, v in values.items()])


def outcome(check: Any, values: dict[str, str], body: bytes) -> str | None:
    """``None`` when the check passed, else the code of its refusal (a 401)."""
    try:
        check(headers(values), body, NOW)
    except HTTPError as refusal:
        assert refusal.status == 401, refusal.message
        return refusal.code
    return None


@pytest.mark.parametrize("kind", sorted(AUTHS))
@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.sampled_from(HEADERS), header_value), body=st.binary())
def test_any_headers_get_a_401_or_pass(kind: str, values: dict[str, str], body: bytes) -> None:
    assert outcome(check_of(kind), values, body) in REFUSALS | {None}


timestamps = st.integers(NOW - TOLERANCE, NOW + TOLERANCE).map(str)
bodies = st.binary(max_size=2000)
secrets = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=64)
rotated = st.lists(secrets, min_size=1, max_size=3).flatmap(
    lambda keys: st.tuples(st.just(keys), st.sampled_from(keys))
)
"""The secrets a scheme that rotates them is configured with, and the one a request is
signed with."""


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def verifies(check: Any, values: dict[str, str], body: bytes, other: bytes) -> None:
    """The signed request passes, and the same headers with another body do not."""
    assume(body != other)
    assert outcome(check, values, body) is None
    assert outcome(check, values, other) == INVALID_SIGNATURE


@settings(max_examples=100, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=64),
    message_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    sent_at=timestamps,
    noise=st.lists(b64.map("v1,{}".format), max_size=MAX_SIGNATURES - 1),
    body=bodies,
    other=bodies,
)
def test_standard_webhooks_signed_requests_verify(
    key: bytes, message_id: str, sent_at: str, noise: list[str], body: bytes, other: bytes
) -> None:
    check = check_of("standard-webhooks", secret="whsec_" + base64.b64encode(key).decode())
    content = f"{message_id}.{sent_at}.".encode() + body
    signed = "v1," + base64.b64encode(hmac_sha256(key, content)).decode()
    values = {
        "webhook-id": message_id,
        "webhook-timestamp": sent_at,
        "webhook-signature": " ".join([*noise, signed]),
    }
    verifies(check, values, body, other)


@settings(max_examples=100, deadline=None)
@given(
    secret=secrets,
    sent_at=timestamps,
    noise=st.lists(hexes.map("v1={}".format) | hexes.map("v0={}".format), max_size=4),
    body=bodies,
    other=bodies,
)
def test_stripe_signed_requests_verify(
    secret: str, sent_at: str, noise: list[str], body: bytes, other: bytes
) -> None:
    signed = hmac_sha256(secret.encode(), f"{sent_at}.".encode() + body).hex()
    values = {"stripe-signature": ",".join([f"t={sent_at}", *noise, f"v1={signed}"])}
    verifies(check_of("stripe", secret=secret), values, body, other)


@settings(max_examples=100, deadline=None)
@given(signing=rotated, body=bodies, other=bodies)
def test_github_signed_requests_verify(
    signing: tuple[list[str], str], body: bytes, other: bytes
) -> None:
    keys, key = signing
    signed = hmac_sha256(key.encode(), body).hex()
    values = {"X-Hub-Signature-256": f"sha256={signed}"}
    verifies(check_of("github", secrets=keys), values, body, other)


@settings(max_examples=100, deadline=None)
@given(signing=rotated, sent_at=timestamps, body=bodies, other=bodies)
def test_slack_signed_requests_verify(
    signing: tuple[list[str], str], sent_at: str, body: bytes, other: bytes
) -> None:
    keys, key = signing
    content = f"v0:{sent_at}:".encode() + body
    signed = hmac_sha256(key.encode(), content).hex()
    values = {"X-Slack-Request-Timestamp": sent_at, "X-Slack-Signature": f"v0={signed}"}
    verifies(check_of("slack", signing_secrets=keys), values, body, other)


@settings(max_examples=100, deadline=None)
@given(
    secret=secrets,
    algorithm=st.sampled_from(["sha256", "sha1"]),
    encoding=st.sampled_from(["hex", "base64"]),
    prefix=st.sampled_from(["", "sha256=", "v1 "]),
    body=bodies,
    other=bodies,
)
def test_hmac_signed_requests_verify(
    secret: str, algorithm: str, encoding: str, prefix: str, body: bytes, other: bytes
) -> None:
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).digest()
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    check = check_of(
        "hmac",
        secret=secret,
        header="X-Signature",
        algorithm=algorithm,
        prefix=prefix,
        encoding=encoding,
    )
    verifies(check, {"X-Signature": prefix + encoded}, body, other)


@settings(max_examples=100, deadline=None)
@given(sent_at=st.integers(0, 10**12 - 1), body=bodies)
def test_timestamps_outside_the_tolerance_are_refused(sent_at: int, body: bytes) -> None:
    """Correctly signed, at any moment: the timestamp decides alone."""
    assume(abs(sent_at - NOW) > TOLERANCE)
    secret = AUTHS["slack"]["signing_secret"].encode()
    signed = hmac_sha256(secret, f"v0:{sent_at}:".encode() + body).hex()
    values = {"X-Slack-Request-Timestamp": str(sent_at), "X-Slack-Signature": f"v0={signed}"}
    assert outcome(check_of("slack"), values, body) == TIMESTAMP_OUT_OF_RANGE
