"""Push: a ``watch: true`` trigger opens a channel at the public URL; a notification
syncs at once; the ``sync`` handshake is answered and nothing else; a bad token is 401,
an unknown channel 404, both logged as refused."""

from __future__ import annotations

import time

import httpx
from gcal_hub import PUBLIC_URL, Hub
from highway_triggers_gcal.service import service_of

from highway_triggers.testing import wait_until

ROUTE = "/api/v1/gcal/notifications"


def test_a_notification_syncs_within_a_second(hub: Hub) -> None:
    calendar = hub.calendar()
    workflow = hub.deploy(calendar, watch=True, poll_interval_seconds=30)
    hub.synced(calendar, 1)
    channel = wait_until(lambda: hub.api.channels_of(calendar))[0]
    assert channel["address"] == PUBLIC_URL + ROUTE
    channel["address"] = hub.gateway.url + ROUTE
    assert hub.api.notify(channel["id"], state="sync").status_code == 200
    hub.api.insert(calendar, "pushed")
    sent = time.monotonic()
    assert hub.api.notify(channel["id"]).status_code == 200
    hub.starts(workflow, 1)
    assert time.monotonic() - sent < 1.0


def test_hostile_notifications_are_refused(sqlite_hub: Hub) -> None:
    hub = sqlite_hub
    calendar = hub.calendar()
    hub.deploy(calendar, watch=True, poll_interval_seconds=30)
    channel = wait_until(lambda: hub.api.channels_of(calendar))[0]
    channel["address"] = hub.gateway.url + ROUTE
    bad = hub.api.notify(channel["id"], token="not-the-token")
    assert bad.status_code == 401 and bad.json()["code"] == "INVALID_CHANNEL_TOKEN"
    unknown = httpx.post(
        hub.gateway.url + ROUTE,
        headers={"X-Goog-Channel-ID": "no-such-channel", "X-Goog-Channel-Token": "x"},
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "UNKNOWN_CHANNEL"
    missing = httpx.post(hub.gateway.url + ROUTE)
    assert missing.status_code == 404
    refused = wait_until(
        lambda: len(r := [d for d in hub.delivery_log() if d["outcome"] == "refused"]) >= 3 and r
    )
    assert {"INVALID_CHANNEL_TOKEN", "UNKNOWN_CHANNEL"} <= {
        r["reason"].split(":")[0] for r in refused
    }


def test_undeploying_closes_the_channel_and_deletes_the_stored_state(hub: Hub) -> None:
    calendar = hub.calendar()
    workflow = hub.deploy(calendar, watch=True, poll_interval_seconds=30)
    wait_until(lambda: hub.api.channels_of(calendar))
    service = service_of(hub.gateway.context)
    (trigger_id,) = [
        i for i, p in service.pollers.items() if p.trigger.config.calendar_id == calendar
    ]
    store = service.store
    wait_until(lambda: hub.gateway.run(store.get(trigger_id)) is not None)
    assert len(hub.gateway.run(store.channels_of(trigger_id))) == 1
    answer = hub.admin.post(f"/api/v1/deployment/workflows/{workflow}/undeploy")
    assert answer.status_code == 200, answer.text
    wait_until(lambda: not hub.api.channels_of(calendar))  # channels.stop was called
    wait_until(lambda: hub.gateway.run(store.get(trigger_id)) is None)
    assert hub.gateway.run(store.channels_of(trigger_id)) == []
