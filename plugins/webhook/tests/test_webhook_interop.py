"""Interop with the official Standard Webhooks and Stripe libraries: what they sign is
admitted, and a redelivery of the same message starts (or resumes) nothing, by default.

Both schemes define the delivery id (Standard Webhooks ``webhook-id``, Stripe's event
``id``), so a WEBHOOK trigger or per-run webhook deduplicates on it without
``dedup_header``. Each redelivery here is signed anew, later, as the senders' retries are.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import standardwebhooks
import stripe
from webhook_hub import Hub

from highway_triggers.testing import EngineCall, wait_until

_ids = itertools.count()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def swh_signed(secret: str, message_id: str, payload: str, at: float) -> dict[str, str]:
    """Headers the official ``standardwebhooks`` library signs (and verifies) for ``payload``."""
    sender = standardwebhooks.Webhook(secret)
    signature = sender.sign(message_id, datetime.fromtimestamp(at, UTC), payload)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": signature,
    }
    assert sender.verify(payload, headers) == json.loads(payload)
    return headers


def stripe_event(event_id: str) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": {"id": "pi_3Nx", "object": "payment_intent", "amount": 2000}},
        }
    )


def stripe_signed(secret: str, payload: str, at: float) -> dict[str, str]:
    """``Stripe-Signature`` as the official ``stripe`` library signs test payloads, proven
    to be what ``stripe.Webhook.construct_event`` accepts."""
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, int(at))
    event = stripe.Webhook.construct_event(payload, header, secret)
    assert event.id == json.loads(payload)["id"]
    return {"Stripe-Signature": header, "content-type": "application/json; charset=utf-8"}


def starts_of(hub: Hub, workflow: str, count: int) -> list[EngineCall]:
    """Exactly ``count`` starts of ``workflow``, once a late extra one would have come."""
    calls = hub.starts(workflow, count)
    time.sleep(0.3)
    assert len(hub.starts(workflow)) == count
    return calls


def duplicate(answer: httpx.Response) -> None:
    body = Hub.accepted(answer, delivered_to=0)
    assert body["duplicate"] is True and not body["dispatch_ids"], body


def first(answer: httpx.Response) -> None:
    body = Hub.accepted(answer)
    assert body["duplicate"] is False and len(body["dispatch_ids"]) == 1, body


def test_a_standard_webhooks_redelivery_starts_nothing(hub: Hub) -> None:
    secret = new_secret()
    workflow = hub.deploy({"auth": {"type": "standard-webhooks", "secret": secret}})
    payload = json.dumps({"type": "invoice.paid", "amount": 42})
    now = time.time()
    first(hub.post(workflow, payload.encode(), **swh_signed(secret, "msg_1", payload, now - 60)))
    duplicate(hub.post(workflow, payload.encode(), **swh_signed(secret, "msg_1", payload, now)))
    # another message, though its body is the same, is another delivery
    first(hub.post(workflow, payload.encode(), **swh_signed(secret, "msg_2", payload, now)))
    calls = starts_of(hub, workflow, 2)
    assert sorted(c.body["trigger_data"]["headers"]["webhook-id"] for c in calls) == [
        "msg_1",
        "msg_2",
    ]


def test_a_long_delivery_id_is_deduplicated_by_its_digest(hub: Hub) -> None:
    secret = new_secret()
    workflow = hub.deploy({"auth": {"type": "standard-webhooks", "secret": secret}})
    payload = "{}"
    long_id = secrets.token_urlsafe(6000)  # too long for a database index as it is
    now = time.time()
    first(hub.post(workflow, payload.encode(), **swh_signed(secret, long_id, payload, now - 1)))
    duplicate(hub.post(workflow, payload.encode(), **swh_signed(secret, long_id, payload, now)))
    other_id = long_id[:-1] + ("A" if long_id[-1] != "A" else "B")
    first(hub.post(workflow, payload.encode(), **swh_signed(secret, other_id, payload, now)))
    starts_of(hub, workflow, 2)


def test_a_stripe_redelivery_starts_nothing(hub: Hub) -> None:
    secret = new_secret()
    workflow = hub.deploy({"auth": {"type": "stripe", "secret": secret}})
    payload = stripe_event("evt_1PkQ2xInterop")
    now = time.time()
    first(hub.post(workflow, payload.encode(), **stripe_signed(secret, payload, now - 60)))
    duplicate(hub.post(workflow, payload.encode(), **stripe_signed(secret, payload, now)))
    other = stripe_event("evt_1PkQ2yInterop")
    first(hub.post(workflow, other.encode(), **stripe_signed(secret, other, now)))
    calls = starts_of(hub, workflow, 2)
    assert sorted(c.body["trigger_data"]["body"]["id"] for c in calls) == [
        "evt_1PkQ2xInterop",
        "evt_1PkQ2yInterop",
    ]


def test_dedup_false_and_dedup_header_override_the_schemes_id(hub: Hub) -> None:
    secret = new_secret()
    auth = {"type": "stripe", "secret": secret}
    payload = stripe_event("evt_override")
    now = time.time()
    every = hub.deploy({"auth": auth, "dedup": False})
    for at in (now - 1, now):
        first(hub.post(every, payload.encode(), **stripe_signed(secret, payload, at)))
    starts_of(hub, every, 2)

    by_header = hub.deploy({"auth": auth, "dedup_header": "X-Delivery"})
    signed = stripe_signed(secret, payload, now)
    first(hub.post(by_header, payload.encode(), **signed, **{"X-Delivery": "d1"}))
    first(hub.post(by_header, payload.encode(), **signed, **{"X-Delivery": "d2"}))
    duplicate(hub.post(by_header, payload.encode(), **signed, **{"X-Delivery": "d2"}))
    starts_of(hub, by_header, 2)  # the header is the key here, not the event id

    refused = hub.admin.post(
        "/api/v1/deployment/workflows/wf-dedup-invalid/deploy",
        json={"triggers": [{"type": "WEBHOOK", "config": {"dedup": False, "dedup_header": "X-D"}}]},
    )
    assert "dedup_header" in Hub.refused(refused, 422, "VALIDATION_ERROR")["message"]


def register(hub: Hub, signature: dict[str, Any], multi_use: bool) -> tuple[str, str]:
    """A per-run webhook's path and run id."""
    run_id = f"interop-run-{next(_ids)}"
    answer = hub.admin.post(
        "/api/v1/webhook-registrations",
        json={
            "tenant_id": "acme",
            "workflow_run_id": run_id,
            "signature": signature,
            "multi_use": multi_use,
        },
    )
    assert answer.status_code == 201, answer.text
    return httpx.URL(answer.json()["url"]).path, run_id


def resumes_of(hub: Hub, run_id: str, count: int) -> list[EngineCall]:
    def resumed() -> list[EngineCall]:
        calls = [c for c in hub.engine.resumes() if c.path == f"/v2/executions/{run_id}/resume"]
        return calls if len(calls) >= count else []

    calls: list[EngineCall] = wait_until(resumed)
    time.sleep(0.3)
    assert len(resumed()) == count
    return calls


def test_per_run_webhooks_resume_once_per_delivery(hub: Hub) -> None:
    secret = new_secret()
    now = time.time()
    path, run_id = register(hub, {"type": "standard-webhooks", "secret": secret}, multi_use=True)
    payload = json.dumps({"step": 1})

    def send(message_id: str, at: float) -> httpx.Response:
        headers = swh_signed(secret, message_id, payload, at)
        return hub.sender().post(path, content=payload, headers=headers)

    first(send("msg_a", now - 60))
    duplicate(send("msg_a", now))
    first(send("msg_b", now))
    resumes_of(hub, run_id, 2)

    # single use: Stripe's retry of the event that resumed the run is a duplicate, not a 410
    path, run_id = register(hub, {"type": "stripe", "secret": secret}, multi_use=False)
    payload = stripe_event("evt_per_run")
    first(hub.sender().post(path, content=payload, headers=stripe_signed(secret, payload, now)))
    duplicate(
        hub.sender().post(path, content=payload, headers=stripe_signed(secret, payload, now + 1))
    )
    (resume,) = resumes_of(hub, run_id, 1)
    assert resume.body["resume_data"]["body"]["id"] == "evt_per_run"
