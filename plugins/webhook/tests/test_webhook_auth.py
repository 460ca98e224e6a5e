"""Signatures, credentials and IP allow-lists on WEBHOOK triggers, with the shared vectors.

Every refusal happens before anything is written: a refused request leaves no dispatch
and no dedup row behind (its delivery id still starts the workflow afterwards).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from webhook_hub import PROXY, SENDER, Hub

TEN_YEARS = 10 * 365 * 24 * 3600
"""A tolerance that lets the vectors' fixed timestamps through, to test their signatures."""


def load(shared: Path, name: str) -> Any:
    return json.loads((shared / name).read_text())


def swh_headers(vector: dict[str, Any], prefix: str = "webhook") -> dict[str, str]:
    """The vector's headers, under the spec's prefix or Svix's (``svix``)."""
    return {
        f"{prefix}-id": vector["webhook_id"],
        f"{prefix}-timestamp": str(vector["timestamp"]),
        f"{prefix}-signature": vector["expected_signature"],
    }


def v1_sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_standard_webhooks_vectors(hub: Hub, shared_fixtures: Path) -> None:
    v1, altered, v1a = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"]
    v1_auth = {"type": "standard-webhooks", "secret": v1["secret"]}
    v1a_auth = {"type": "standard-webhooks", "public_key": v1a["public_key"]}
    body = v1["payload"].encode()
    for auth, vector in ((v1_auth, v1), (v1a_auth, v1a)):
        lenient = hub.deploy({"auth": auth, "timestamp_tolerance_seconds": TEN_YEARS})
        hub.accepted(hub.post(lenient, body, **swh_headers(vector)))
        assert hub.starts(lenient)[0].body["trigger_data"]["body"] == {"test": 2432232314}
        hub.refused(hub.post(lenient, body + b" ", **swh_headers(vector)), 401, "INVALID_SIGNATURE")
        strict = hub.deploy({"auth": auth})  # the default 300 s: the vector is years old
        hub.refused(hub.post(strict, body, **swh_headers(vector)), 401, "TIMESTAMP_OUT_OF_RANGE")
    lenient = hub.deploy({"auth": v1_auth, "timestamp_tolerance_seconds": TEN_YEARS})
    error = hub.refused(hub.post(lenient, body, **swh_headers(altered)), 401, "INVALID_SIGNATURE")
    assert v1["expected_signature"][3:15] not in json.dumps(error)
    wrong_key = {
        "type": "standard-webhooks",
        "secret": "whsec_" + base64.b64encode(b"w" * 24).decode(),
    }
    wrong = hub.deploy({"auth": wrong_key, "timestamp_tolerance_seconds": TEN_YEARS})
    hub.refused(hub.post(wrong, body, **swh_headers(v1)), 401, "INVALID_SIGNATURE")
    time.sleep(0.2)
    assert not hub.engine.starts(wrong)


def test_svix_headers_verify_and_deduplicate_alike(hub: Hub, shared_fixtures: Path) -> None:
    """Svix (and the services sending through it) names the headers ``svix-id``,
    ``svix-timestamp``, ``svix-signature``: the same scheme, taken alike, and ``svix-id``
    is the delivery id. The three come from one family: a ``webhook-signature`` is checked
    with ``webhook-id``, never with a ``svix-id`` beside it."""
    v1, _, v1a = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"]
    auth = {"type": "standard-webhooks", "secret": v1["secret"], "public_key": v1a["public_key"]}
    workflow = hub.deploy({"auth": auth, "timestamp_tolerance_seconds": TEN_YEARS})
    body = v1["payload"].encode()
    hub.accepted(hub.post(workflow, body, **swh_headers(v1, "svix")))
    # the ed25519 vector signs the same message id: verified, then a duplicate
    again = hub.post(workflow, body, **swh_headers(v1a, "svix"))
    assert hub.accepted(again, delivered_to=0)["duplicate"] is True
    mixed = {**swh_headers(v1, "svix"), "webhook-signature": v1["expected_signature"]}
    hub.refused(hub.post(workflow, body, **mixed), 401, "INVALID_SIGNATURE")
    hub.refused(
        hub.post(workflow, body + b" ", **swh_headers(v1, "svix")), 401, "INVALID_SIGNATURE"
    )
    time.sleep(0.2)
    assert len(hub.engine.starts(workflow)) == 1


def test_key_rotation_and_refusals_write_nothing(hub: Hub, shared_fixtures: Path) -> None:
    old = load(shared_fixtures, "standard-webhooks/vectors.json")["vectors"][0]["secret"]
    new = "whsec_" + base64.b64encode(b"rotated-secret-0123456789").decode()
    workflow = hub.deploy(
        {"auth": {"type": "standard-webhooks", "secrets": [old, new]}, "dedup_header": "webhook-id"}
    )
    now = int(time.time())
    hub.accepted(hub.post(workflow, b"{}", **v1_sign(new, "msg_a", now, b"{}")))
    hub.accepted(hub.post(workflow, b"{}", **v1_sign(old, "msg_b", now, b"{}")))
    hub.deploy(
        {"auth": {"type": "standard-webhooks", "secret": new}, "dedup_header": "webhook-id"},
        workflow,
    )
    signed_old = v1_sign(old, "msg_c", now, b"{}")
    hub.refused(hub.post(workflow, b"{}", **signed_old), 401, "INVALID_SIGNATURE")
    stale = v1_sign(new, "msg_c", now - 600, b"{}")
    hub.refused(hub.post(workflow, b"{}", **stale), 401, "TIMESTAMP_OUT_OF_RANGE")
    # neither refusal used up msg_c
    hub.accepted(hub.post(workflow, b"{}", **v1_sign(new, "msg_c", now, b"{}")))
    assert len(hub.starts(workflow, 3)) == 3


def test_stripe_vectors(hub: Hub, shared_fixtures: Path) -> None:
    valid, stale, v0_only, inline = load(shared_fixtures, "stripe/signature-vector.json")["vectors"]
    body = (shared_fixtures / valid["body_file"]).read_bytes()
    auth = {"type": "stripe", "secret": valid["secret"]}
    lenient = hub.deploy({"auth": auth, "timestamp_tolerance_seconds": TEN_YEARS})
    hub.accepted(hub.post(lenient, body, **{"Stripe-Signature": valid["header"]}))
    hub.accepted(
        hub.post(lenient, inline["body"].encode(), **{"Stripe-Signature": inline["header"]})
    )
    refused = hub.post(lenient, body, **{"Stripe-Signature": v0_only["header"]})
    hub.refused(refused, 401, "INVALID_SIGNATURE")
    strict = hub.deploy({"auth": auth})
    hub.refused(
        hub.post(strict, body, **{"Stripe-Signature": stale["header"]}),
        401,
        "TIMESTAMP_OUT_OF_RANGE",
    )
    now = int(time.time())
    fresh = hmac.new(
        valid["secret"].encode(), f"{now}.".encode() + body, hashlib.sha256
    ).hexdigest()
    header = f"t={now},v1={'0' * 64},v1={fresh}"  # Stripe mid-rotation: two v1 signatures
    hub.accepted(hub.post(strict, body, **{"Stripe-Signature": header}))
    event = hub.starts(strict)[0].body["trigger_data"]
    assert event["body"]["type"] == "payment_intent.succeeded"
    assert event["headers"]["stripe-signature"] == "[REDACTED]"


def test_hmac_and_stripe_secrets_rotate(hub: Hub) -> None:
    """``secrets`` lists the keys of a rotation: a body signed with any of them is taken,
    one signed with another is 401."""
    old, new, other = b"old-secret", b"new-secret", b"other-secret"
    body, now = b'{"id": "evt_rotated"}', int(time.time())

    def hex_hmac(key: bytes, content: bytes) -> str:
        return hmac.new(key, content, hashlib.sha256).hexdigest()

    secrets = [old.decode(), new.decode()]
    signed = hub.deploy({"auth": {"type": "hmac", "secrets": secrets, "header": "X-Sig"}})
    stripe = hub.deploy({"auth": {"type": "stripe", "secrets": secrets}})
    for key in (old, new):
        hub.accepted(hub.post(signed, body, **{"X-Sig": hex_hmac(key, body)}))
        header = f"t={now},v1={hex_hmac(key, f'{now}.'.encode() + body)}"
        answer = hub.post(stripe, body, **{"Stripe-Signature": header})
        assert answer.status_code == 202 and answer.json()["duplicate"] is (key == new), answer.text
    hub.refused(
        hub.post(signed, body, **{"X-Sig": hex_hmac(other, body)}), 401, "INVALID_SIGNATURE"
    )
    header = f"t={now},v1={hex_hmac(other, f'{now}.'.encode() + body)}"
    hub.refused(hub.post(stripe, body, **{"Stripe-Signature": header}), 401, "INVALID_SIGNATURE")
    assert len(hub.starts(signed, 2)) == 2 and len(hub.starts(stripe)) == 1


def test_github_style_hmac_deliveries(hub: Hub, shared_fixtures: Path) -> None:
    deliveries = load(shared_fixtures, "github/signed-deliveries.json")["deliveries"]
    auth = {
        "type": "hmac",
        "secret": deliveries[0]["secret"],
        "header": "X-Hub-Signature-256",
        "prefix": "sha256=",
    }
    workflow = hub.deploy({"auth": auth, "dedup_header": "X-GitHub-Delivery"})
    for delivery in deliveries:
        headers = {k: v for k, v in delivery["headers"].items() if k != "Content-Length"}
        hub.accepted(
            hub.post(workflow, (shared_fixtures / delivery["file"]).read_bytes(), **headers)
        )
    first = deliveries[0]
    redelivery = {k: v for k, v in first["headers"].items() if k != "Content-Length"}
    hub.accepted(
        hub.post(workflow, (shared_fixtures / first["file"]).read_bytes(), **redelivery), 0
    )
    tampered = (shared_fixtures / first["file"]).read_bytes().replace(b"master", b"main")
    hub.refused(hub.post(workflow, tampered, **redelivery), 401, "INVALID_SIGNATURE")
    starts = hub.starts(workflow, len(deliveries))
    data = starts[0].body["trigger_data"]
    assert data["headers"]["x-github-event"] == first["headers"]["X-GitHub-Event"]
    assert data["headers"]["x-hub-signature-256"] == "[REDACTED]"
    assert data["body"] == json.loads((shared_fixtures / first["file"]).read_bytes())

    vector = load(shared_fixtures, "github/signature-vector.json")["vectors"][0]
    documented = hub.deploy({"auth": {**auth, "secret": vector["secret"]}})
    headers = {"X-Hub-Signature-256": vector["expected_header"], "content-type": "text/plain"}
    hub.accepted(hub.post(documented, vector["payload"].encode(), **headers))


def test_bearer_and_basic_credentials(hub: Hub) -> None:
    bearer = hub.deploy({"auth": {"type": "bearer", "token": "s3cr3t-t0ken"}})
    hub.accepted(hub.post(bearer, Authorization="Bearer s3cr3t-t0ken"))
    refused = hub.post(bearer, Authorization="Bearer s3cr3t")
    hub.refused(refused, 401, "INVALID_CREDENTIALS")
    assert refused.headers["www-authenticate"] == "Bearer"
    hub.refused(hub.post(bearer), 401, "INVALID_CREDENTIALS")
    basic = hub.deploy({"auth": {"type": "basic", "username": "ci", "password": "pw"}})
    hub.accepted(hub.post(basic, Authorization="Basic " + base64.b64encode(b"ci:pw").decode()))
    hub.refused(
        hub.post(basic, Authorization="Basic " + base64.b64encode(b"ci:px").decode()),
        401,
        "INVALID_CREDENTIALS",
    )


def test_ip_allowlist_with_trusted_proxy(hub: Hub) -> None:
    workflow = hub.deploy({"ip_allowlist": ["192.0.2.0/24", "2001:db8::/32"]})
    hub.refused(hub.post(workflow, source=SENDER), 401, "IP_NOT_ALLOWED")
    # a sender that is no proxy claims an allowed address: not believed
    spoofed = hub.post(workflow, source=SENDER, **{"X-Forwarded-For": "192.0.2.7"})
    hub.refused(spoofed, 401, "IP_NOT_ALLOWED")
    # the trusted proxy forwards clients' addresses, IPv4 and IPv6
    hub.accepted(hub.post(workflow, source=PROXY, **{"X-Forwarded-For": "192.0.2.7"}))
    hub.accepted(hub.post(workflow, source=PROXY, **{"X-Forwarded-For": "2001:db8::7"}))
    # a client's own X-Forwarded-For left of the proxy's entry is not believed either
    chained = hub.post(workflow, source=PROXY, **{"X-Forwarded-For": "192.0.2.7, 198.51.100.1"})
    hub.refused(chained, 401, "IP_NOT_ALLOWED")
    hub.refused(
        hub.post(workflow, source=PROXY, **{"X-Forwarded-For": "2001:db9::1"}),
        401,
        "IP_NOT_ALLOWED",
    )
    starts = hub.starts(workflow, 2)
    assert [s.body["trigger_data"]["client_ip"] for s in starts] == ["192.0.2.7", "2001:db8::7"]
    direct = hub.deploy({"ip_allowlist": [SENDER]})
    hub.accepted(hub.post(direct, source=SENDER))
    hub.refused(hub.post(direct, source=PROXY), 401, "IP_NOT_ALLOWED")
