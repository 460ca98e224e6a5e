"""Signature checks (core/signatures.py, core/auth_objects.py) against the shared vectors.

Standard Webhooks v1 and v1a from the reference libraries, Stripe (computed) and
GitHub-style HMAC (GitHub's documented vector and computed deliveries). Every failure is
a 401 whose code names the failed check and whose message holds no expected value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from pydantic import ValidationError
from starlette.datastructures import Headers

from highway_triggers.core.auth_objects import AUTH
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.secrets import SEALED, SecretCipher

CIPHER = SecretCipher("test-signatures")


def load(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


def check(
    auth: dict[str, Any], headers: dict[str, str], body: bytes, now: float, tolerance: float = 300
) -> None:
    AUTH.validate_python(auth).check(CIPHER.unseal, tolerance)(Headers(headers), body, now)


def refused(
    code: str, auth: dict[str, Any], headers: dict[str, str], body: bytes, now: float
) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        check(auth, headers, body, now)
    assert (caught.value.status, caught.value.code) == (401, code), caught.value.message
    return caught.value


def swh_headers(vector: dict[str, Any], signature: str | None = None) -> dict[str, str]:
    return {
        "webhook-id": vector["webhook_id"],
        "webhook-timestamp": str(vector["timestamp"]),
        "webhook-signature": signature or vector["expected_signature"],
    }


def swh_auth(vector: dict[str, Any]) -> dict[str, Any]:
    if vector["scheme"] == "v1a":
        return {"type": "standard-webhooks", "public_key": vector["public_key"]}
    return {"type": "standard-webhooks", "secret": vector["secret"]}


def v1_sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_standard_webhooks_vectors(shared_fixtures: Path) -> None:
    vectors = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"]
    assert [v["valid"] for v in vectors] == [True, False, True]
    for vector in vectors:
        body = vector["payload"].encode()
        if vector["valid"]:
            check(swh_auth(vector), swh_headers(vector), body, vector["timestamp"])
        else:
            error = refused(
                "INVALID_SIGNATURE",
                swh_auth(vector),
                swh_headers(vector),
                body,
                vector["timestamp"],
            )
            assert vector["expected_signature"].split(",")[1][:8] not in error.message


def test_standard_webhooks_refusals_name_the_failed_check(shared_fixtures: Path) -> None:
    v1, _, v1a = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"]
    for vector in (v1, v1a):
        body, sent = vector["payload"].encode(), vector["timestamp"]
        auth, headers = swh_auth(vector), swh_headers(vector)
        refused("INVALID_SIGNATURE", auth, headers, body + b" ", sent)  # altered body
        refused("INVALID_SIGNATURE", auth, {**headers, "webhook-id": "msg_other"}, body, sent)
        refused("TIMESTAMP_OUT_OF_RANGE", auth, headers, body, sent + 301)  # stale
        refused("TIMESTAMP_OUT_OF_RANGE", auth, headers, body, sent - 301)  # from the future
        check(auth, headers, body, sent + 299)
        for missing in headers:
            partial = {k: v for k, v in headers.items() if k != missing}
            refused("INVALID_SIGNATURE", auth, partial, body, sent)
        refused("INVALID_SIGNATURE", auth, {**headers, "webhook-timestamp": "soon"}, body, sent)
    other_secret = {
        "type": "standard-webhooks",
        "secret": "whsec_" + base64.b64encode(b"k" * 24).decode(),
    }
    refused(
        "INVALID_SIGNATURE", other_secret, swh_headers(v1), v1["payload"].encode(), v1["timestamp"]
    )
    other_key = {"type": "standard-webhooks", "public_key": _whpk(SigningKey(b"\x02" * 32))}
    refused(
        "INVALID_SIGNATURE", other_key, swh_headers(v1a), v1a["payload"].encode(), v1a["timestamp"]
    )
    # a v1 signature is no v1a signature, whatever its bytes
    mixed = {"type": "standard-webhooks", "public_key": v1a["public_key"]}
    refused(
        "INVALID_SIGNATURE",
        mixed,
        swh_headers(v1a, "v1," + v1a["expected_signature"][4:]),
        v1a["payload"].encode(),
        v1a["timestamp"],
    )


def test_standard_webhooks_v1a_seed_gives_the_vector_public_key(shared_fixtures: Path) -> None:
    v1a = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"][2]
    seed = base64.b64decode(v1a["secret_key_seed_only"].removeprefix("whsk_"))
    assert _whpk(SigningKey(seed)) == v1a["public_key"]


def test_standard_webhooks_key_rotation_and_several_signatures(shared_fixtures: Path) -> None:
    v1, _, v1a = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"]
    body, sent, message_id = v1["payload"].encode(), v1["timestamp"], v1["webhook_id"]
    new_secret = "whsec_" + base64.b64encode(b"n" * 32).decode()
    rotated = {"type": "standard-webhooks", "secret": new_secret, "secrets": [v1["secret"]]}
    # signed with the old secret, the new one, or both (a sender mid-rotation)
    check(rotated, swh_headers(v1), body, sent)
    new_signature = v1_sign(new_secret, message_id, sent, body)
    check(rotated, swh_headers(v1, new_signature), body, sent)
    check(rotated, swh_headers(v1, f"v1,bm90LWl0 {new_signature} v2,zzz"), body, sent)
    refused("INVALID_SIGNATURE", rotated, swh_headers(v1, "v1,bm90LWl0 v1a,bm90LWl0"), body, sent)
    # HMAC and ed25519 keys side by side; a header carrying both kinds of signature
    both = {**rotated, "public_keys": [_whpk(SigningKey(b"\x03" * 32)), v1a["public_key"]]}
    check(both, swh_headers(v1a, f"v1,bm90LWl0 {v1a['expected_signature']}"), body, sent)
    # the old secret retired: its signatures stop working
    retired = {"type": "standard-webhooks", "secret": new_secret}
    refused("INVALID_SIGNATURE", retired, swh_headers(v1), body, sent)


def test_stripe_vectors(shared_fixtures: Path) -> None:
    vectors = load(shared_fixtures, "stripe/signature-vector.json")["vectors"]
    assert [v["valid"] for v in vectors] == [True, False, False, True]
    for vector in vectors:
        body = (
            (shared_fixtures / vector["body_file"]).read_bytes()
            if "body_file" in vector
            else vector["body"].encode()
        )
        auth = {"type": "stripe", "secret": vector["secret"]}
        headers = {"Stripe-Signature": vector["header"]}
        if vector["valid"]:
            check(auth, headers, body, vector["now"])
            refused("INVALID_SIGNATURE", auth, headers, body + b"\n", vector["now"])
            refused(
                "INVALID_SIGNATURE", {**auth, "secret": "whsec_wrong"}, headers, body, vector["now"]
            )
        else:
            code = "TIMESTAMP_OUT_OF_RANGE" if "tolerance" in vector["why"] else "INVALID_SIGNATURE"
            refused(code, auth, headers, body, vector["now"])


def test_stripe_accepts_any_of_several_v1_signatures(shared_fixtures: Path) -> None:
    vector = load(shared_fixtures, "stripe/signature-vector.json")["vectors"][3]
    auth, body = {"type": "stripe", "secret": vector["secret"]}, vector["body"].encode()
    t, v1 = vector["header"].split(",")
    check(auth, {"Stripe-Signature": f"{t},v1={'0' * 64},{v1},v0=abc"}, body, vector["now"])
    refused(
        "INVALID_SIGNATURE",
        auth,
        {"Stripe-Signature": f"{t},v1={'0' * 64},v1=zz"},
        body,
        vector["now"],
    )
    refused("INVALID_SIGNATURE", auth, {"Stripe-Signature": v1}, body, vector["now"])
    refused("INVALID_SIGNATURE", auth, {}, body, vector["now"])


def test_github_style_hmac_vectors(shared_fixtures: Path) -> None:
    vectors = load(shared_fixtures, "github/signature-vector.json")["vectors"]
    assert [v["valid"] for v in vectors] == [True, False, False]
    for vector in vectors:
        auth = {
            "type": "hmac",
            "secret": vector["secret"],
            "header": "X-Hub-Signature-256",
            "prefix": "sha256=",
        }
        headers = {"X-Hub-Signature-256": vector["expected_header"]}
        if vector["valid"]:
            check(auth, headers, vector["payload"].encode(), 0)
        else:
            error = refused("INVALID_SIGNATURE", auth, headers, vector["payload"].encode(), 0)
            assert "757107" not in error.message


def test_github_signed_deliveries(shared_fixtures: Path) -> None:
    deliveries = load(shared_fixtures, "github/signed-deliveries.json")["deliveries"]
    assert len(deliveries) == 9
    for delivery in deliveries:
        auth = {
            "type": "hmac",
            "secret": delivery["secret"],
            "header": "X-Hub-Signature-256",
            "prefix": "sha256=",
        }
        body = (shared_fixtures / delivery["file"]).read_bytes()
        check(auth, delivery["headers"], body, 0)
        refused("INVALID_SIGNATURE", {**auth, "secret": "wrong"}, delivery["headers"], body, 0)
        refused("INVALID_SIGNATURE", {**auth, "prefix": "sha1="}, delivery["headers"], body, 0)


def test_hmac_sha1_and_base64() -> None:
    body, secret = b"payload", "k3y"
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1)
    auth = {"type": "hmac", "secret": secret, "header": "X-Signature", "algorithm": "sha1"}
    check(auth, {"X-Signature": sha1.hexdigest()}, body, 0)
    check(auth, {"X-Signature": sha1.hexdigest().upper()}, body, 0)
    refused(
        "INVALID_SIGNATURE",
        {**auth, "algorithm": "sha256"},
        {"X-Signature": sha1.hexdigest()},
        body,
        0,
    )
    b64 = {**auth, "encoding": "base64", "prefix": "sha1="}
    check(b64, {"X-Signature": "sha1=" + base64.b64encode(sha1.digest()).decode()}, body, 0)
    refused(
        "INVALID_SIGNATURE", b64, {"X-Signature": base64.b64encode(sha1.digest()).decode()}, body, 0
    )
    refused("INVALID_SIGNATURE", b64, {"X-Signature": "sha1=not base64!"}, body, 0)
    refused("INVALID_SIGNATURE", auth, {}, body, 0)


def test_bearer_and_basic() -> None:
    bearer = {"type": "bearer", "token": "t0ken"}
    check(bearer, {"Authorization": "Bearer t0ken"}, b"", 0)
    for wrong in ("Bearer t0ke", "Basic t0ken", "", "Bearer"):
        error = refused("INVALID_CREDENTIALS", bearer, {"Authorization": wrong}, b"", 0)
        assert error.headers == {"WWW-Authenticate": "Bearer"}
    basic = {"type": "basic", "username": "ci", "password": "pa:ss"}
    good = base64.b64encode(b"ci:pa:ss").decode()
    check(basic, {"Authorization": f"Basic {good}"}, b"", 0)
    for pair in (b"ci:pa", b"cj:pa:ss", b"ci", b""):
        encoded = base64.b64encode(pair).decode()
        refused("INVALID_CREDENTIALS", basic, {"Authorization": f"Basic {encoded}"}, b"", 0)
    refused("INVALID_CREDENTIALS", basic, {"Authorization": "Basic ???"}, b"", 0)
    check({"type": "none"}, {}, b"anything", 0)


def test_secrets_are_sealed_for_storage_and_unsealed_to_check() -> None:
    auth = AUTH.validate_python(
        {
            "type": "standard-webhooks",
            "secret": "whsec_" + "a" * 32,
            "secrets": ["whsec_" + "b" * 32],
            "public_key": _whpk(SigningKey(b"\x04" * 32)),
        }
    )
    sealed = auth.sealed(CIPHER.seal)
    assert sealed.secret is not None and sealed.secret.startswith(SEALED)
    assert all(s.startswith(SEALED) for s in sealed.secrets)
    assert sealed.public_key == auth.public_key  # public keys are not secret
    assert sealed.sealed(CIPHER.seal) == sealed  # sealing twice changes nothing
    stored = AUTH.validate_python(sealed.model_dump(mode="json"))  # sealed values validate
    assert CIPHER.unseal(stored.secret or "") == auth.secret
    for kind, field in (
        ("bearer", "token"),
        ("basic", "password"),
        ("hmac", "secret"),
        ("stripe", "secret"),
    ):
        extra = (
            {"username": "u"} if kind == "basic" else {"header": "X-S"} if kind == "hmac" else {}
        )
        plain = AUTH.validate_python({"type": kind, field: "plain", **extra})
        assert CIPHER.unseal(getattr(plain.sealed(CIPHER.seal), field)) == "plain"


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "standard-webhooks"},
        {"type": "standard-webhooks", "secret": "whsec_???"},
        {"type": "standard-webhooks", "public_key": "whpk_" + base64.b64encode(b"short").decode()},
        {"type": "hmac", "secret": "s"},
        {"type": "hmac", "secret": "s", "header": "X", "algorithm": "md5"},
        {"type": "basic", "username": "a:b", "password": "p"},
        {"type": "bearer", "token": ""},
        {"type": "kerberos"},
        {"type": "none", "token": "x"},
    ],
)
def test_malformed_auth_objects_are_refused(auth: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AUTH.validate_python(auth)


def _whpk(key: SigningKey) -> str:
    return "whpk_" + base64.b64encode(bytes(key.verify_key)).decode()
