"""Slack ``v0`` and GitHub ``X-Hub-Signature-256`` checks (core/signatures.py) and their
auth objects (core/auth_objects.py), against the documented vectors and computed requests
in tests/fixtures; signed timestamps that are not plain ASCII digits, for every scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.datastructures import Headers

from highway_triggers.core import signatures
from highway_triggers.core.auth_objects import AUTH
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.secrets import SEALED, SecretCipher
from highway_triggers.testing import FakeEngine, RunningGateway, wait_until

FIXTURES = Path(__file__).parent / "fixtures"
CIPHER = SecretCipher("test-slack-github")
HOSTILE_TIMESTAMPS = ["²", "１２３", "١٢٣", "+1", "-1", "1e9", " 1", "1 ", "", "1" * 13, "9" * 5000]
"""Not 1 to 12 ASCII digits: ``str.isdigit`` takes the first three, ``int`` the first six."""


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def refused(code: str, verify: Any, *args: Any, **kwargs: Any) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        verify(*args, **kwargs)
    assert (caught.value.status, caught.value.code) == (401, code), caught.value.message
    return caught.value


def check(auth: dict[str, Any], headers: dict[str, str], body: bytes, now: float) -> None:
    AUTH.validate_python(auth).check(CIPHER.unseal, 300)(Headers(headers), body, now)


def github_sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_sign(secret: str, timestamp: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def test_github_documented_vector() -> None:
    vectors = load("github/signature-vector.json")["vectors"]
    assert [v["valid"] for v in vectors] == [True, False, False]
    for vector in vectors:
        headers = Headers({"X-Hub-Signature-256": vector["expected_header"]})
        body, secret = vector["payload"].encode(), vector["secret"].encode()
        if vector["valid"]:
            signatures.verify_github(headers, body, [secret])
            signatures.verify_github(headers, body, [b"retired secret", secret])
            check({"type": "github", "secret": vector["secret"]}, dict(headers), body, 0)
        else:
            error = refused("INVALID_SIGNATURE", signatures.verify_github, headers, body, [secret])
            assert "757107" not in error.message


def test_github_signed_deliveries_and_rotation() -> None:
    deliveries = load("github/signed-deliveries.json")["deliveries"]
    assert len(deliveries) == 9
    for delivery in deliveries:
        body, secret = (FIXTURES / delivery["file"]).read_bytes(), delivery["secret"]
        headers = delivery["headers"]
        check({"type": "github", "secret": secret}, headers, body, 0)
        check({"type": "github", "secrets": ["new-secret", secret]}, headers, body, 0)
        check({"type": "github", "secret": "new-secret", "secrets": [secret]}, headers, body, 0)
        for retired in ({"secret": "new-secret"}, {"secrets": ["a", "b"]}):
            refused("INVALID_SIGNATURE", check, {"type": "github", **retired}, headers, body, 0)
        refused(
            "INVALID_SIGNATURE", check, {"type": "github", "secret": secret}, headers, body[1:], 0
        )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256=zz",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e",
    ],
)
def test_github_malformed_signature_headers(header: str | None) -> None:
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    body, secret = b"Hello, World!", b"It's a Secret to Everybody"
    refused("INVALID_SIGNATURE", signatures.verify_github, Headers(headers), body, [secret])
    # the legacy SHA-1 header is not looked at
    legacy = {"X-Hub-Signature": "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()}
    refused("INVALID_SIGNATURE", signatures.verify_github, Headers(legacy), body, [secret])


def test_slack_documented_vector() -> None:
    valid, stale, altered = load("slack/signature-vector.json")["vectors"]
    assert [valid["valid"], stale["valid"], altered["valid"]] == [True, False, False]
    for vector in (valid, stale, altered):
        headers = Headers(
            {
                "X-Slack-Request-Timestamp": vector["timestamp"],
                "X-Slack-Signature": vector["expected_signature"],
            }
        )
        body = vector["body"].encode()
        secrets = [vector["signing_secret"].encode()]
        now = vector.get("valid_when_now", vector.get("now"))
        if vector is valid:
            assert (FIXTURES / vector["body_file"]).read_bytes() == body
            signatures.verify_slack(headers, body, secrets, now=now)
            signatures.verify_slack(headers, body, [b"old-secret", *secrets], now=now + 300)
            signatures.verify_slack(headers, body, secrets, now=now - 300)  # a fast sender clock
            auth = {"type": "slack", "signing_secret": vector["signing_secret"]}
            check(auth, dict(headers), body, now)
            refused("INVALID_SIGNATURE", check, auth, dict(headers), body + b"&x=1", now)
        elif vector is stale:
            refused(
                "TIMESTAMP_OUT_OF_RANGE", signatures.verify_slack, headers, body, secrets, now=now
            )
        else:
            error = refused(
                "INVALID_SIGNATURE", signatures.verify_slack, headers, body, secrets, now=now
            )
            assert "a2114d" not in error.message


def test_slack_signed_requests_window_and_rotation() -> None:
    fixture = load("slack/signed-requests.json")
    now, requests = fixture["now"], fixture["requests"]
    assert len(requests) == 8
    for request in requests:
        body, secret, headers = (
            (FIXTURES / request["file"]).read_bytes(),
            request["secret"],
            request["headers"],
        )
        auth = {"type": "slack", "signing_secret": secret}
        check(auth, headers, body, now)
        check({"type": "slack", "signing_secrets": ["rotated-in", secret]}, headers, body, now)
        check(auth, headers, body, now + 299)
        refused("TIMESTAMP_OUT_OF_RANGE", check, auth, headers, body, now + 301)
        refused("TIMESTAMP_OUT_OF_RANGE", check, auth, headers, body, now - 301)
        refused(
            "INVALID_SIGNATURE",
            check,
            {"type": "slack", "signing_secret": "retired"},
            headers,
            body,
            now,
        )
        for missing in headers:
            partial = {k: v for k, v in headers.items() if k != missing}
            refused("INVALID_SIGNATURE", check, auth, partial, body, now)
    # a wider tolerance, as the auth object's check is given it
    first = requests[0]
    slack = AUTH.validate_python({"type": "slack", "signing_secret": first["secret"]})
    lenient = slack.check(CIPHER.unseal, 3600)
    lenient(Headers(first["headers"]), (FIXTURES / first["file"]).read_bytes(), now + 3000)


@pytest.mark.parametrize("header", ["", "v0=", "v0=zz", "v1=" + "0" * 64, "0" * 64])
def test_slack_malformed_signature_headers(header: str) -> None:
    headers = {"x-slack-request-timestamp": "1531420618", "x-slack-signature": header}
    refused("INVALID_SIGNATURE", signatures.verify_slack, headers, b"", [b"s"], now=1531420618)


@pytest.mark.parametrize("timestamp", HOSTILE_TIMESTAMPS, ids=lambda t: repr(t)[:12])
def test_hostile_timestamps_are_a_401(timestamp: str) -> None:
    """Each request is signed over its own timestamp: only the timestamp's form refuses it."""
    body, secret, far = b'{"a": 1}', b"key-for-hostile-timestamps", 1e15
    slack = {k.lower(): v for k, v in slack_sign(secret.decode(), timestamp, body).items()}
    refused(
        "INVALID_SIGNATURE", signatures.verify_slack, slack, body, [secret], tolerance=far, now=0
    )
    stripe_v1 = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    stripe = f"t={timestamp},v1={stripe_v1}"
    refused(
        "INVALID_SIGNATURE", signatures.verify_stripe, stripe, body, [secret], tolerance=far, now=0
    )
    content = f"msg_1.{timestamp}.".encode() + body
    swh = {
        "webhook-id": "msg_1",
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1,"
        + base64.b64encode(signatures.hmac_digest(secret, content)).decode(),
    }
    refused(
        "INVALID_SIGNATURE",
        signatures.verify_standard_webhooks,
        swh,
        body,
        hmac_keys=[secret],
        verify_keys=[],
        tolerance=far,
        now=0,
    )


def test_twelve_ascii_digits_are_a_timestamp() -> None:
    assert signatures.parse_timestamp("0") == 0
    assert signatures.parse_timestamp("999999999999") == 999_999_999_999
    headers = slack_sign("s", "1531420618", b"x")
    signatures.verify_slack(Headers(headers), b"x", [b"s"], now=1531420618)


def test_auth_objects_need_a_secret_and_seal_every_one() -> None:
    for invalid in (
        {"type": "github"},
        {"type": "github", "secrets": []},
        {"type": "github", "secret": ""},
        {"type": "github", "secret": "s", "signing_secret": "s"},
        {"type": "slack"},
        {"type": "slack", "signing_secrets": [""]},
        {"type": "slack", "secret": "s"},
        {"type": "slack", "signing_secrets": ["s"] * 17},
    ):
        with pytest.raises(ValidationError):
            AUTH.validate_python(invalid)
    github = AUTH.validate_python({"type": "github", "secret": "one", "secrets": ["two"]})
    slack = AUTH.validate_python({"type": "slack", "signing_secret": "a", "signing_secrets": ["b"]})
    for auth, fields in (
        (github, ("secret", "secrets")),
        (slack, ("signing_secret", "signing_secrets")),
    ):
        sealed = auth.sealed(CIPHER.seal)
        single, listed = (getattr(sealed, name) for name in fields)
        assert single.startswith(SEALED) and all(s.startswith(SEALED) for s in listed)
        assert [CIPHER.unseal(single), *map(CIPHER.unseal, listed)] == [
            getattr(auth, fields[0]),
            *getattr(auth, fields[1]),
        ]
        assert AUTH.validate_python(sealed.model_dump(mode="json")) == sealed
    # the sealed object's check unseals: a request signed with the listed secret passes
    sealed_github = github.sealed(CIPHER.seal).check(CIPHER.unseal, 300)
    sealed_github(Headers({"X-Hub-Signature-256": github_sign("two", b"b")}), b"b", 0)
    sealed_slack = slack.sealed(CIPHER.seal).check(CIPHER.unseal, 300)
    sealed_slack(Headers(slack_sign("b", "100", b"b")), b"b", 100)


def test_redacted_headers() -> None:
    redacted = {
        kind: AUTH.validate_python({"type": kind, **fields}).redacted_headers
        for kind, fields in {
            "none": {},
            "bearer": {"token": "t"},
            "basic": {"username": "u", "password": "p"},
            "hmac": {"secret": "s", "header": "X-Checksum"},
            "stripe": {"secret": "s"},
            "standard-webhooks": {"secret": "whsec_" + "a" * 32},
            "github": {"secret": "s"},
            "slack": {"signing_secret": "s"},
        }.items()
    }
    assert redacted == {
        "none": (),
        "bearer": (),
        "basic": (),
        "hmac": ("X-Checksum",),
        "stripe": (),
        "standard-webhooks": (),
        "github": ("X-Hub-Signature-256",),
        "slack": ("X-Slack-Signature",),
    }


def test_github_and_slack_auth_on_webhook_triggers(
    engine_gateway: tuple[RunningGateway, FakeEngine],
) -> None:
    """Deployed on WEBHOOK triggers: the signed fixtures start their workflow, nothing else."""
    gateway, engine = engine_gateway
    delivery = load("github/signed-deliveries.json")["deliveries"][0]
    slack_vector = load("slack/signature-vector.json")["vectors"][0]
    old_enough = time.time() - int(slack_vector["timestamp"]) + 600
    triggers = {
        "gh": {"type": "github", "secrets": ["rotated-in", delivery["secret"]]},
        "sl": {"type": "slack", "signing_secret": slack_vector["signing_secret"]},
    }
    for workflow_id, auth in triggers.items():
        config = {"auth": auth, "timestamp_tolerance_seconds": old_enough}
        answer = gateway.client().post(
            f"/api/v1/deployment/workflows/{workflow_id}/deploy",
            json={"triggers": [{"type": "WEBHOOK", "config": config}]},
        )
        assert answer.status_code == 200, answer.text
    sender = gateway.client(token=None)
    github_body = (FIXTURES / delivery["file"]).read_bytes()
    github_headers = {k: v for k, v in delivery["headers"].items() if k != "Content-Length"}
    slack_headers = {
        "X-Slack-Request-Timestamp": slack_vector["timestamp"],
        "X-Slack-Signature": slack_vector["expected_signature"],
        "Content-Type": "application/x-www-form-urlencoded",
    }
    slack_body = slack_vector["body"].encode()
    refusals = [
        ("gh", github_body + b" ", github_headers),
        (
            "gh",
            github_body,
            {**github_headers, "X-Hub-Signature-256": github_sign("x", github_body)},
        ),
        ("sl", slack_body + b"&x=1", slack_headers),
        ("sl", slack_body, {**slack_headers, "X-Slack-Request-Timestamp": "²".encode("latin-1")}),
        ("sl", slack_body, {**slack_headers, "X-Slack-Request-Timestamp": "9" * 5000}),
    ]
    for workflow_id, body, headers in refusals:
        answer = sender.post(f"/api/v1/public/webhook/{workflow_id}", content=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (401, "INVALID_SIGNATURE")
    for workflow_id, body, headers in (
        ("gh", github_body, github_headers),
        ("sl", slack_body, slack_headers),
    ):
        answer = sender.post(f"/api/v1/public/webhook/{workflow_id}", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
    starts = wait_until(lambda: len(engine.starts()) >= 2 and engine.starts())
    data = {c.path.split("/")[3]: c.body["trigger_data"] for c in starts}
    assert data["gh"]["body"]["ref"] == "refs/heads/master"
    assert data["gh"]["headers"]["x-hub-signature-256"] == "[REDACTED]"
    assert data["sl"]["body"]["command"] == "/webhook-collect"
    assert data["sl"]["headers"]["x-slack-signature"] == "[REDACTED]"
    time.sleep(0.2)
    assert len(engine.starts()) == 2
