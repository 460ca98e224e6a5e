"""Signature and credential checks at the edge: constant time, no I/O.

Each check raises a 401 :class:`HTTPError` whose code says what failed
(``INVALID_SIGNATURE``, ``TIMESTAMP_OUT_OF_RANGE`` or ``INVALID_CREDENTIALS``) and whose
message never shows the expected value. Keys here are plaintext bytes;
:mod:`highway_triggers.core.auth_objects` builds these checks from the signature and
auth objects. ``headers`` is a case-insensitive mapping (Starlette's ``Headers``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from highway_triggers.core.errors import HTTPError

INVALID_SIGNATURE = "INVALID_SIGNATURE"
TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"
INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
MAX_SIGNATURES = 16
"""Signatures looked at per header: a request cannot make the gateway verify thousands."""
WHSEC, WHPK = "whsec_", "whpk_"
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
"""A signed timestamp: ASCII digits only (``str.isdigit`` also takes ``²``), bounded."""

Headers = Mapping[str, str]


def signature_error(message: str) -> HTTPError:
    return HTTPError(401, INVALID_SIGNATURE, message)


def credentials_error(scheme: str, message: str) -> HTTPError:
    return HTTPError(401, INVALID_CREDENTIALS, message, headers={"WWW-Authenticate": scheme})


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """OpenSSL's one-shot HMAC: no Python HMAC object and its two hash objects per call
    (2% of a GitHub delivery's time in a loaded gateway)."""
    return hmac.digest(key, message, algorithm)


def decode(value: str, encoding: str) -> bytes | None:
    """``value`` decoded from ``hex`` or ``base64``; ``None`` when it is not."""
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def parse_timestamp(value: str | None) -> int:
    """Unix seconds from a header (1 to 12 ASCII digits); anything else fails the signature."""
    if value is None or not UNIX_SECONDS.fullmatch(value):
        raise signature_error("the signature timestamp is missing or not unix seconds")
    return int(value)


def check_timestamp(timestamp: int, tolerance: float, now: float) -> None:
    """Refuse a timestamp more than ``tolerance`` seconds before or after ``now``."""
    if abs(now - timestamp) > tolerance:
        raise HTTPError(
            401,
            TIMESTAMP_OUT_OF_RANGE,
            f"the signature timestamp is more than {tolerance:g} s away from the gateway's clock",
        )


def verify_hmac(
    body: bytes,
    provided: str | None,
    keys: Sequence[bytes],
    *,
    algorithm: str = "sha256",
    prefix: str = "",
    encoding: str = "hex",
) -> None:
    """A header holding ``prefix`` + the encoded HMAC of the raw body (GitHub-style) under
    one of the keys."""
    if not provided or not provided.startswith(prefix):
        raise signature_error("the signature header is missing or malformed")
    signature = decode(provided[len(prefix) :].strip(), encoding)
    expected = [hmac_digest(key, body, algorithm) for key in keys]
    if signature is None or not matches_any(signature, expected):
        raise signature_error("the signature does not match the body")


def matches_any(signature: bytes, expected: Iterable[bytes]) -> bool:
    """Whether ``signature`` is one of ``expected``; every one is compared, in constant time."""
    return any([hmac.compare_digest(signature, e) for e in expected])


def verify_github(headers: Headers, body: bytes, secrets: Sequence[bytes]) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` under one of the secrets."""
    provided = headers.get("x-hub-signature-256") or ""
    signature = decode(provided.removeprefix("sha256="), "hex")
    if not provided.startswith("sha256=") or signature is None:
        raise signature_error("the X-Hub-Signature-256 header is missing or malformed")
    if not matches_any(signature, [hmac_digest(secret, body) for secret in secrets]):
        raise signature_error("the X-Hub-Signature-256 signature does not match the body")


def verify_slack(
    headers: Headers,
    body: bytes,
    secrets: Sequence[bytes],
    *,
    tolerance: float = 300,
    now: float,
) -> None:
    """``X-Slack-Signature: v0=<hex HMAC-SHA256 of v0:{timestamp}:{body}>`` under one of the
    signing secrets, ``X-Slack-Request-Timestamp`` within ``tolerance`` seconds of ``now``."""
    sent_at = headers.get("x-slack-request-timestamp")
    provided = headers.get("x-slack-signature") or ""
    timestamp = parse_timestamp(sent_at)
    signature = decode(provided.removeprefix("v0="), "hex")
    if not provided.startswith("v0=") or signature is None:
        raise signature_error("the X-Slack-Signature header is missing or malformed")
    content = f"v0:{sent_at}:".encode() + body
    if not matches_any(signature, [hmac_digest(secret, content) for secret in secrets]):
        raise signature_error("the X-Slack-Signature signature does not match the body")
    check_timestamp(timestamp, tolerance, now)


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64)."""
    key = decode(secret.removeprefix(WHSEC), "base64")
    if not key:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64")
    return key


def standard_webhooks_public_key(public_key: str) -> VerifyKey:
    """The ed25519 key of a Standard Webhooks public key (``whpk_`` + base64 of 32 bytes)."""
    raw = decode(public_key.removeprefix(WHPK), "base64")
    if raw is None or len(raw) != 32:
        raise ValueError("a Standard Webhooks public key is whpk_ followed by base64 of 32 bytes")
    return VerifyKey(raw)


STANDARD_WEBHOOKS_PREFIXES = ("webhook", "svix")
"""The headers' prefixes: the spec's (``webhook-id`` …), then Svix's (``svix-id`` …),
which Svix, where the scheme comes from, and the services sending through it use unless
told otherwise. Both sign alike."""


def standard_webhooks_headers(headers: Headers) -> tuple[str | None, str | None, str | None]:
    """The message id, timestamp and signatures, all three under the first prefix of
    :data:`STANDARD_WEBHOOKS_PREFIXES` whose ``-signature`` header is there."""
    for prefix in STANDARD_WEBHOOKS_PREFIXES:
        if signatures := headers.get(f"{prefix}-signature"):
            return headers.get(f"{prefix}-id"), headers.get(f"{prefix}-timestamp"), signatures
    return headers.get("webhook-id"), headers.get("webhook-timestamp"), None


def verify_standard_webhooks(
    headers: Headers,
    body: bytes,
    *,
    hmac_keys: Sequence[bytes],
    verify_keys: Sequence[VerifyKey],
    tolerance: float,
    now: float,
) -> None:
    """``webhook-signature`` (or ``svix-signature``) holds a ``v1`` (HMAC-SHA256) or
    ``v1a`` (ed25519) signature of ``{id}.{timestamp}.{body}`` made with one of the keys
    (see :func:`standard_webhooks_headers`)."""
    message_id, sent_at, signatures = standard_webhooks_headers(headers)
    if not message_id or not signatures:
        raise signature_error(
            "webhook-id, webhook-timestamp and webhook-signature (or svix-id, svix-timestamp"
            " and svix-signature) are required"
        )
    timestamp = parse_timestamp(sent_at)
    content = f"{message_id}.{sent_at}.".encode() + body
    expected = [hmac_digest(key, content) for key in hmac_keys]
    for entry in signatures.split()[:MAX_SIGNATURES]:
        version, _, encoded = entry.partition(",")
        signature = decode(encoded, "base64")
        if signature is None:
            continue
        if version == "v1" and any(hmac.compare_digest(signature, e) for e in expected):
            break
        if version == "v1a" and any(_ed25519_valid(k, content, signature) for k in verify_keys):
            break
    else:
        raise signature_error("no signature in webhook-signature matches a configured key")
    check_timestamp(timestamp, tolerance, now)


def verify_stripe(
    header: str | None, body: bytes, secrets: Sequence[bytes], *, tolerance: float, now: float
) -> None:
    """``Stripe-Signature: t=…,v1=…[,v1=…]``: any ``v1`` is the hex HMAC-SHA256 of
    ``{t}.{body}`` under one of the endpoint secrets (used as is); ``v0`` entries are
    ignored."""
    fields = [part.partition("=") for part in (header or "").split(",")]
    sent_at = next((value.strip() for name, _, value in fields if name.strip() == "t"), None)
    signatures = [value.strip() for name, _, value in fields if name.strip() == "v1"]
    if sent_at is None or not signatures:
        raise signature_error("the Stripe-Signature header needs t= and at least one v1=")
    timestamp = parse_timestamp(sent_at)
    content = f"{sent_at}.".encode() + body
    expected = [hmac_digest(secret, content) for secret in secrets]
    provided = (decode(s, "hex") for s in signatures[:MAX_SIGNATURES])
    if not any(s is not None and matches_any(s, expected) for s in provided):
        raise signature_error("no v1 signature in Stripe-Signature matches")
    check_timestamp(timestamp, tolerance, now)


def verify_bearer(authorization: str | None, token: bytes) -> None:
    scheme, _, provided = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(provided.strip().encode(), token):
        raise credentials_error("Bearer", "a valid bearer token is required")


def verify_basic(authorization: str | None, username: bytes, password: bytes) -> None:
    scheme, _, encoded = (authorization or "").partition(" ")
    pair = decode(encoded.strip(), "base64") if scheme.lower() == "basic" else None
    user, _, secret = (pair or b"").partition(b":")
    # both compared whatever the first answer, so the time does not tell which was wrong
    valid = hmac.compare_digest(user, username) & hmac.compare_digest(secret, password)
    if pair is None or not valid:
        raise credentials_error('Basic realm="webhook"', "valid basic credentials are required")


def _ed25519_valid(key: VerifyKey, content: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        key.verify(content, signature)
    except BadSignatureError:
        return False
    return True
