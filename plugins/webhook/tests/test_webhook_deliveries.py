"""Webhook requests in the delivery log (``GET /api/v1/deliveries``): started, a path where
no webhook is deployed, refused by signature or address, a redelivery."""

from __future__ import annotations

from typing import Any

from webhook_hub import Hub

from highway_triggers.testing import wait_until


def logged(hub: Hub, **query: str) -> list[dict[str, Any]]:
    """The deliveries the query lists, once there are some (refusals commit with the
    writer's next transaction, after their answer)."""

    def found() -> list[dict[str, Any]]:
        answer = hub.admin.get("/api/v1/deliveries", params=query)
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["deliveries"]
        return rows

    return wait_until(found)  # type: ignore[no-any-return]


def trigger_of(hub: Hub, workflow_id: str) -> str:
    answer = hub.admin.get(f"/api/v1/deployment/workflows/{workflow_id}")
    assert answer.status_code == 200, answer.text
    trigger_id: str = answer.json()["triggers"][0]["trigger_id"]
    return trigger_id


def test_a_started_webhook_and_its_redelivery(hub: Hub) -> None:
    workflow = hub.deploy({"dedup_header": "X-Delivery"})
    first = hub.accepted(hub.post(workflow, **{"X-Delivery": "d-1"}))
    again = hub.accepted(hub.post(workflow, **{"X-Delivery": "d-1"}), delivered_to=0)
    assert again["duplicate"] and again["event_id"] == first["event_id"]

    (started,) = logged(hub, workflow_id=workflow)
    assert (started["event_id"], started["source"], started["outcome"]) == (
        first["event_id"],
        "WEBHOOK",
        "delivered",
    )
    assert started["started"] == 1 and started["delivery_id"] == f"{workflow}:d-1"
    assert started["targets"] == [
        {"trigger_id": trigger_of(hub, workflow), "workflow_id": workflow, "matched": True}
    ]
    duplicates = logged(hub, source="WEBHOOK", outcome="duplicate")
    assert [d["duplicate_of"] for d in duplicates if d["delivery_id"] == f"{workflow}:d-1"] == [
        first["event_id"]
    ]


def test_a_path_where_no_webhook_is_deployed_is_filtered(hub: Hub) -> None:
    hub.refused(hub.post("nobody/deployed-here"), 404, "WEBHOOK_NOT_FOUND")
    rows = [
        row
        for row in logged(hub, source="WEBHOOK", outcome="filtered")
        if "nobody/deployed-here" in row["reason"]
    ]
    assert [row["reason"] for row in rows] == ["no WEBHOOK trigger at path 'nobody/deployed-here'"]


def test_refused_by_signature_or_address_names_the_trigger(hub: Hub) -> None:
    signed = hub.deploy({"auth": {"type": "hmac", "secret": "s3cret", "header": "X-Sig"}})
    hub.refused(hub.post(signed, **{"X-Sig": "forged"}), 401, "INVALID_SIGNATURE")
    (refused,) = logged(hub, workflow_id=signed)
    assert (refused["source"], refused["outcome"], refused["started"]) == ("WEBHOOK", "refused", 0)
    assert refused["reason"].startswith("INVALID_SIGNATURE: ")
    assert refused["targets"] == [
        {"trigger_id": trigger_of(hub, signed), "workflow_id": signed, "matched": False}
    ]

    fenced = hub.deploy({"ip_allowlist": ["192.0.2.0/24"]})
    hub.refused(hub.post(fenced), 401, "IP_NOT_ALLOWED")
    (refused,) = logged(hub, workflow_id=fenced, outcome="refused")
    assert refused["reason"] == "IP_NOT_ALLOWED: requests from this address are not allowed"
