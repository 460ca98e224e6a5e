"""Per-tenant rate limit on ``POST /api/v1/events/{tenant_id}`` (token buckets)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.ratelimit import RateLimiter
from highway_triggers.testing import RunningGateway


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(100, 200, clock=clock)
    assert [limiter.delay("a", 2, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.delay("a", 2, 3) == pytest.approx(0.5)
    assert limiter.delay("b", 2, 3) == 0.0  # another key, another bucket
    clock.now = 0.5
    assert limiter.delay("a", 2, 3) == 0.0
    clock.now = 10
    assert [limiter.delay("a", 2, 3) for _ in range(4)][-1] > 0  # never more than the burst


def test_defaults_apply_without_limits_and_429_carries_retry_after() -> None:
    limiter = RateLimiter(0.1, 1, clock=Clock())
    limiter.check("t")
    with pytest.raises(HTTPError) as raised:
        limiter.check("t")
    assert raised.value.status == 429 and raised.value.code == "RATE_LIMITED"
    assert raised.value.headers["Retry-After"] == "10"


def test_retry_after_is_at_least_one_second() -> None:
    limiter = RateLimiter(1000, 1, clock=Clock())
    limiter.check("t")
    with pytest.raises(HTTPError) as raised:
        limiter.check("t")
    assert raised.value.headers["Retry-After"] == "1"


def tenant_token(gateway: RunningGateway, tenant_id: str, **limits: Any) -> str:
    created = gateway.client().post("/api/v1/tenants", json={"tenant_id": tenant_id, **limits})
    assert created.status_code == 201, created.text
    claims = {"tenant_id": tenant_id, "exp": int(time.time()) + 600}
    return jwt.encode(claims, created.json()["jwt_secret"], algorithm="HS256")


def test_events_past_the_tenants_rate_get_429(gateway: RunningGateway) -> None:
    slow = tenant_token(gateway, "slow", rate_limit_per_second=2, burst=3)
    other = tenant_token(gateway, "other", rate_limit_per_second=2, burst=3)
    body = {"event_name": "ping", "payload": {}}

    def post(token: str, tenant_id: str) -> Any:
        return gateway.client(token).post(f"/api/v1/events/{tenant_id}", json=body)

    answers = [post(slow, "slow") for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 404]  # let through, nothing waited
    limited = post(slow, "slow")
    assert limited.status_code == 429, limited.text
    assert limited.json()["code"] == "RATE_LIMITED" and limited.json()["status"] == "error"
    assert int(limited.headers["Retry-After"]) >= 1

    assert post(other, "other").status_code == 404  # another tenant's bucket is full
    time.sleep(int(limited.headers["Retry-After"]))
    assert post(slow, "slow").status_code == 404


def test_the_limit_is_checked_after_the_jwt(gateway: RunningGateway) -> None:
    tenant_token(gateway, "strict", rate_limit_per_second=1, burst=1)
    client = gateway.client("not-a-jwt")
    for _ in range(3):
        answer = client.post("/api/v1/events/strict", json={"event_name": "ping"})
        assert answer.status_code == 401, answer.text
