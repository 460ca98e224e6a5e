"""Tenant JWTs whose time claims are not JSON numbers are refused with 401, never 500.

PyJWT takes a numeric string (``"exp": "9999999999"``) as a date; the gateway does not
(RFC 7519 NumericDate), and a token is tried twice, since a second use comes from the
cache of verified tokens. The tokens are built by hand, so that their payload is
exactly the JSON text given (``1e400``, ``NaN``) and signed with the tenant's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from highway_triggers.testing import RunningGateway

LATER = int(time.time()) + 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = b64url(b'{"alg": "HS256", "typ": "JWT"}')


def token(secret: str, payload: str) -> str:
    """An HS256 JWT whose payload is the JSON text ``payload``."""
    signing_input = f"{HEADER}.{b64url(payload.encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@pytest.fixture
def secret(gateway: RunningGateway) -> str:
    created = gateway.client().post("/api/v1/tenants", json={"tenant_id": "acme"})
    assert created.status_code == 201, created.text
    value: str = created.json()["jwt_secret"]
    return value


def send(gateway: RunningGateway, jwt: str) -> list[tuple[int, dict[str, object]]]:
    """The answers to two uses of ``jwt`` (the second may come from the cache) for an
    event no trigger takes: 404 once the token passed."""
    client = gateway.client(token=jwt)
    answers = [client.post("/api/v1/events/acme", json={"event_name": "ping"}) for _ in range(2)]
    return [(a.status_code, a.json()) for a in answers]


NOT_NUMBERS = [
    ("exp", '"soon"'),
    ("exp", f'"{LATER}"'),  # a numeric string: PyJWT takes it
    ("exp", f"[{LATER}]"),
    ("exp", f'{{"at": {LATER}}}'),
    ("exp", "true"),
    ("exp", "null"),
    ("exp", "1e400"),  # Infinity once parsed
    ("exp", "-1e400"),
    ("exp", "NaN"),
    ("nbf", '"0"'),
    ("iat", '"0"'),
]


def test_a_time_claim_that_is_no_number_is_refused(gateway: RunningGateway, secret: str) -> None:
    for claim, value in NOT_NUMBERS:
        claims = {"tenant_id": '"acme"', "exp": str(LATER), claim: value}
        payload = "{" + ", ".join(f'"{name}": {text}' for name, text in claims.items()) + "}"
        for status, body in send(gateway, token(secret, payload)):
            assert status == 401, (payload, body)
            assert body["status"] == "error" and body["code"] == "INVALID_TOKEN", body
            assert isinstance(body["message"], str) and claim in body["message"], body


def test_a_numeric_exp_is_a_date(gateway: RunningGateway, secret: str) -> None:
    for exp in (str(LATER), f"{LATER}.5", "1e300", str(10**30)):
        payload = json.dumps({"tenant_id": "acme"})[:-1] + f', "exp": {exp}}}'
        for status, body in send(gateway, token(secret, payload)):  # past auth: nobody takes it
            assert (status, body["code"]) == (404, "NO_WAITING_WORKFLOW"), (payload, body)
    expired = json.dumps({"tenant_id": "acme", "exp": int(time.time()) - 60})
    assert [status for status, _ in send(gateway, token(secret, expired))] == [401, 401]


def test_a_refused_token_looks_up_api_keys_only_when_it_is_one(
    gateway: RunningGateway, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events route also takes an admin token; a forged one costs no database read
    unless it has the API keys' ``hwk_`` prefix."""
    auth = gateway.gateway.auth
    looked_up: list[str] = []
    exists = auth._key_exists

    def counting(hashed: str) -> bool:
        looked_up.append(hashed)
        return exists(hashed)

    monkeypatch.setattr(auth, "_key_exists", counting)
    event = {"event_name": "ping"}
    for forged in ("garbage", token("wrong-secret", f'{{"tenant_id": "acme", "exp": {LATER}}}')):
        answer = gateway.client(token=forged).post("/api/v1/events/acme", json=event)
        assert answer.status_code == 401, answer.text
    assert looked_up == []
    answer = gateway.client(token="hwk_not-a-key").post("/api/v1/events/acme", json=event)
    assert answer.status_code == 401, answer.text
    assert len(looked_up) == 1
