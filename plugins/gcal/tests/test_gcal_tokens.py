"""Access tokens: one with a short life is refreshed before it expires (the API never
sees it expired); a revoked refresh token stops its trigger, shows on
/health/detailed (degraded) and leaves the gateway and other triggers working; a service
account gets its tokens with an RS256 JWT grant, its private key stored sealed."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcal_hub import Hub

from highway_triggers.testing import metric, wait_until


def test_a_short_lived_token_is_refreshed_before_it_expires(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    hub.api.expires_in = 2
    try:
        calendar = hub.calendar()
        workflow = hub.deploy(calendar)
        hub.synced(calendar, 2)
        refused = hub.api.refused_tokens
        time.sleep(3.5)
        hub.api.insert(calendar, "after some refreshes")
        hub.starts(workflow, 1)
    finally:
        hub.api.expires_in = 3600
    assert hub.api.token_grants.count(calendar) >= 3
    assert hub.api.refused_tokens == refused  # never used past its expiry


def test_a_revoked_refresh_token_stops_the_trigger_and_degrades_health(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    calendar, other = hub.calendar(), hub.calendar()
    hub.deploy(calendar)
    working = hub.deploy(other)
    hub.synced(calendar, 1)
    hub.synced(other, 1)
    hub.api.revoke(calendar)

    def degraded() -> dict[str, object] | None:
        health = hub.health()
        return health if health["status"] == "degraded" else None

    health = wait_until(degraded, timeout=15)
    problems = " ".join(health["problems"])
    assert "plugin highway-triggers-gcal" in problems and "invalid_grant" in problems
    assert calendar in problems and other not in problems
    lists = hub.lists(calendar)
    hub.api.insert(other, "still synced")
    hub.starts(working, 1)
    time.sleep(1.5)
    assert hub.lists(calendar) == lists  # stopped
    assert hub.admin.get("/health").status_code == 200
    assert metric(hub.admin, "highway_gcal_errors_total", kind="revoked") >= 1


def test_a_service_account_gets_tokens_with_a_jwt_grant(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    calendar = hub.calendar()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = f"poller@{calendar.split('@')[0]}.iam.gserviceaccount.com"
    hub.api.service_accounts[email] = key.public_key()
    credentials = {
        "type": "service_account",
        "client_email": email,
        "private_key": pem,
        "token_uri": f"{hub.api_url}/token",
        "subject": "owner@example.org",
    }
    workflow = hub.deploy(calendar, credentials=credentials)
    hub.synced(calendar, 2)
    hub.api.insert(calendar, "granted")
    assert hub.starts(workflow, 1)[0].body["trigger_data"]["summary"] == "granted"
    assert email in hub.api.token_grants
    stored = hub.admin.get(f"/api/v1/deployment/workflows/{workflow}").text
    assert "PRIVATE KEY" not in stored and email in stored
