"""The engine-side client (``highway_triggers.client``) against a real gateway."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from highway_triggers.client import AsyncHighwayClient, HighwayClient, HighwayError
from highway_triggers.testing import (
    ADMIN_TOKEN,
    FakeEngine,
    RunningGateway,
    tenant_token,
    wait_until,
)

EngineGateway = tuple[RunningGateway, FakeEngine]


def test_wait_for_event_then_an_event_resumes_the_run(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    token = tenant_token(gateway, "acme")
    with (
        HighwayClient(gateway.url, ADMIN_TOKEN) as client,
        HighwayClient(gateway.url, token) as app,
    ):
        wait = client.wait_for_event(
            "await_payment",
            "order.paid",
            3600,
            "order-7",
            tenant_id="acme",
            workflow_run_id="run-7",
        )
        assert wait["status"] == "open" and wait["correlation_key"] == "order-7"
        assert wait["expires_at"] is not None
        again = client.wait_for_event(
            "await_payment",
            "order.paid",
            3600,
            "order-7",
            tenant_id="acme",
            workflow_run_id="run-7",
        )
        assert again["wait_id"] == wait["wait_id"]  # a replayed step registers the same wait

        with pytest.raises(HighwayError) as refused:
            client.register_wait(
                tenant_id="acme",
                workflow_run_id="run-8",
                event_name="order.paid",
                correlation_key="order-7",
            )
        assert refused.value.status == 409 and refused.value.code == "WAIT_EXISTS"

        accepted = app.send_event("acme", "order.paid", {"amount": 5}, correlation_key="order-7")
        assert accepted["status"] == "accepted" and accepted["delivered_to"] == 1
        (resume,) = wait_until(engine.resumes)
        assert resume.path == "/v2/executions/run-7/resume"
        assert resume.body["resume_data"] == {"amount": 5}
        assert client.get_wait(wait["wait_id"])["status"] == "consumed"

        with pytest.raises(HighwayError) as missing:
            app.send_event("acme", "order.paid", {}, correlation_key="order-7")
        assert missing.value.code == "NO_WAITING_WORKFLOW" and missing.value.status == 404


def test_run_id_is_the_default_correlation_key(gateway: RunningGateway) -> None:
    with HighwayClient(gateway.url, ADMIN_TOKEN) as client:
        wait = client.wait_for_event(
            "approve", "doc.approved", None, tenant_id="acme", workflow_run_id="run-9"
        )
        assert wait["correlation_key"] == "run-9" and wait["expires_at"] is None


def test_hooks_cancel_and_errors(engine_gateway: EngineGateway) -> None:
    gateway, engine = engine_gateway
    with HighwayClient(gateway.url, ADMIN_TOKEN) as client:
        url = client.register_hook("slack_messages:C123", tenant_id="acme", workflow_run_id="run-1")
        path = "/api/v1/hooks/slack_messages%3AC123"
        assert url.endswith(path)  # on HIGHWAY_PUBLIC_URL, which this test server does not set
        assert httpx.post(gateway.url + path, json={"text": "hi"}).status_code == 202
        (resume,) = wait_until(engine.resumes)
        assert resume.body["resume_data"] == {"text": "hi"}

        wait = client.register_wait(
            tenant_id="acme", workflow_run_id="run-2", event_name="e", correlation_key="k"
        )
        assert client.cancel_wait(wait["wait_id"])["status"] == "cancelled"
        with pytest.raises(HighwayError) as missing:
            client.get_wait("no-such-wait")
        assert missing.value.status == 404 and missing.value.code == "WAIT_NOT_FOUND"
        with pytest.raises(HighwayError) as invalid:
            client.register_wait(tenant_id="acme", workflow_run_id="run-3", event_name="e")
        assert invalid.value.status == 422 and invalid.value.code == "VALIDATION_ERROR"
        assert "errors" in invalid.value.body
    with HighwayClient(gateway.url, "wrong") as stranger, pytest.raises(HighwayError) as denied:
        stranger.get_wait("anything")
    assert denied.value.code == "UNAUTHORIZED" and "401 UNAUTHORIZED" in str(denied.value)


def test_async_client(gateway: RunningGateway) -> None:
    async def scenario() -> None:
        async with AsyncHighwayClient(gateway.url, ADMIN_TOKEN) as client:
            wait = await client.wait_for_event(
                "step", "evt", 60, "c-1", tenant_id="acme", workflow_run_id="run-a"
            )
            assert (await client.get_wait(wait["wait_id"]))["status"] == "open"
            url = await client.register_hook("tok-a", tenant_id="acme", workflow_run_id="run-b")
            assert url.endswith("/api/v1/hooks/tok-a")
            assert (await client.cancel_wait(wait["wait_id"]))["status"] == "cancelled"
            with pytest.raises(HighwayError) as missing:
                await client.get_wait("nope")
            assert missing.value.code == "WAIT_NOT_FOUND"

    asyncio.run(scenario())


def test_request_and_read_an_approval(gateway: RunningGateway) -> None:
    """``request_approval`` and ``get_approval`` (the approval plugin's routes)."""
    fields = {
        "tenant_id": "acme",
        "workflow_run_id": "run-11",
        "approval_key": "refund-42",
        "title": "Refund order 42",
        "approvers": ["ops@example.org", "lead@example.org"],
        "description": "Why: *because*",
        "notify": "none",
    }
    with HighwayClient(gateway.url, ADMIN_TOKEN) as client:
        asked = client.request_approval(**fields)
        assert asked["status"] == "pending"
        assert [link["approver"] for link in asked["links"]] == fields["approvers"]
        assert asked["approve_url"] == asked["links"][0]["approve_url"]
        assert client.request_approval(**fields) == asked  # the same key: the same approval
        found = client.get_approval(asked["approval_id"])
        assert (found["title"], found["description"]) == ("Refund order 42", "Why: *because*")
        with pytest.raises(HighwayError) as invalid:
            client.request_approval(**{**fields, "approvers": []})
        assert (invalid.value.status, invalid.value.code) == (422, "VALIDATION_ERROR")
        assert invalid.value.body["errors"][0]["field"] == "approvers"
        with pytest.raises(HighwayError) as missing:
            client.get_approval("no-such-approval")
        assert (missing.value.status, missing.value.code) == (404, "APPROVAL_NOT_FOUND")

    async def asynchronously() -> tuple[dict[str, object], dict[str, object]]:
        async with AsyncHighwayClient(gateway.url, ADMIN_TOKEN) as client:
            created = await client.request_approval(**{**fields, "approval_key": "refund-43"})
            return created, await client.get_approval(str(created["approval_id"]))

    created, read = asyncio.run(asynchronously())
    assert read["approval_id"] == created["approval_id"] and read["status"] == "pending"
