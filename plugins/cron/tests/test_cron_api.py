"""``/api/v1/schedules``: CRUD, 422s naming the field, pause and resume, preview with DST
changes, tenant scope; schedules are CRON triggers, fired on time by the gateway."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from highway_triggers.testing import RunningGateway, tenant_token, wait_until

DAILY = {"cron_expression": "0 9 * * MON-FRI", "timezone": "Europe/Berlin", "workflow_id": "wf"}
EVERY_SECOND = {"cron_expression": "* * * * * *", "workflow_id": "wf-fast"}


def fires(gateway: RunningGateway, schedule_id: str) -> list[dict[str, Any]]:
    """What the recorder engine was asked to start for the schedule."""
    data = [call.data["trigger_data"] for call in gateway.gateway.engine.calls]
    return [d for d in data if d["schedule_id"] == schedule_id]


def assert_422(answer: httpx.Response, field: str, words: str) -> None:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["status"], body["code"]) == ("error", "VALIDATION_ERROR")
    assert body["errors"][0]["field"] == field, body
    assert words in body["message"], body


def test_crud(gateway: RunningGateway) -> None:
    client = gateway.client()
    created = client.post("/api/v1/schedules", json={**DAILY, "jitter_seconds": 10})
    assert created.status_code == 201, created.text
    schedule = created.json()
    schedule_id = schedule["schedule_id"]
    assert schedule["workflow_id"] == "wf" and schedule["tenant_id"] is None
    assert (schedule["paused"], schedule["note"], schedule["last_run_at"]) == (False, None, None)
    assert schedule["next_run_at"].endswith(("T07:00:00Z", "T08:00:00Z"))  # 09:00 in Berlin
    assert 0 <= schedule["jitter_offset_seconds"] < 10

    assert client.get(f"/api/v1/schedules/{schedule_id}").json() == schedule
    triggers = client.get("/api/v1/triggers", params={"type": "CRON"}).json()["triggers"]
    assert [(t["trigger_id"], t["index_key"]) for t in triggers] == [
        (schedule_id, "0 9 * * MON-FRI")
    ]

    changed = client.put(f"/api/v1/schedules/{schedule_id}", json={"cron_expression": "@hourly"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cron_expression"] == "@hourly"
    assert changed.json()["timezone"] == "Europe/Berlin" and changed.json()["jitter_seconds"] == 10
    assert changed.json()["next_run_at"].endswith(":00:00Z")

    other = client.post("/api/v1/schedules", json={**DAILY, "workflow_id": "wf-other"}).json()
    listed = client.get("/api/v1/schedules").json()
    assert listed["count"] == 2
    only = client.get("/api/v1/schedules", params={"workflow_id": "wf-other"}).json()
    assert [s["schedule_id"] for s in only["schedules"]] == [other["schedule_id"]]

    assert client.delete(f"/api/v1/schedules/{schedule_id}").status_code == 204
    for answer in (
        client.get(f"/api/v1/schedules/{schedule_id}"),
        client.delete(f"/api/v1/schedules/{schedule_id}"),
        client.post(f"/api/v1/schedules/{schedule_id}/pause"),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "SCHEDULE_NOT_FOUND"
    assert client.get("/api/v1/schedules").json()["count"] == 1
    event = client.post(
        "/api/v1/triggers",
        json={"type": "EVENT", "workflow_id": "wf", "config": {"event_type": "x"}},
    )
    assert client.get(f"/api/v1/schedules/{event.json()['trigger_id']}").status_code == 404


INVALID = [
    ({**DAILY, "cron_expression": "61 * * * *"}, "cron_expression", "minute field: 61"),
    ({**DAILY, "cron_expression": "* * *"}, "cron_expression", "expected 5 fields"),
    ({**DAILY, "cron_expression": "0 0 30 2 *"}, "cron_expression", "no date that exists"),
    ({**DAILY, "timezone": "Europe/Atlantis"}, "timezone", "unknown time zone"),
    ({**DAILY, "timezone": "localtime"}, "timezone", "is the host's"),
    ({**DAILY, "jitter_seconds": 31}, "jitter_seconds", "less than or equal to 30"),
    ({**DAILY, "catchup_window_seconds": -1}, "catchup_window_seconds", "greater than"),
    ({**DAILY, "start_at": "2030-01-01T00:00:00"}, "start_at", "timezone"),
    (
        {**DAILY, "start_at": "2030-01-02T00:00Z", "end_at": "2030-01-01T00:00Z"},
        "end_at",
        "later than start_at",
    ),
    ({**DAILY, "cron": "* * * * *"}, "cron", "unknown field"),
    ({"workflow_id": "wf"}, "cron_expression", "required"),
    ({"cron_expression": "@daily"}, "workflow_id", "workflow_id"),
]


def test_invalid_schedules_are_422_naming_the_field(gateway: RunningGateway) -> None:
    client = gateway.client()
    for body, field, words in INVALID:
        assert_422(client.post("/api/v1/schedules", json=body), field, words)
    assert client.get("/api/v1/schedules").json()["count"] == 0


def test_invalid_changes_are_422_and_change_nothing(gateway: RunningGateway) -> None:
    client = gateway.client()
    schedule = client.post("/api/v1/schedules", json=DAILY).json()
    url = f"/api/v1/schedules/{schedule['schedule_id']}"
    assert_422(client.put(url, json={"timezone": "Nowhere"}), "timezone", "unknown time zone")
    assert_422(client.get(f"{url}/preview", params={"count": 0}), "count", "from 1 to 500")
    assert_422(client.post(f"{url}/pause", json={"why": "x"}), "why", "unknown field")
    assert client.get(url).json() == schedule
    deployed = client.post(
        "/api/v1/deployment/workflows/wf-cron/deploy",
        json={"triggers": [{"type": "CRON", "config": {"cron_expression": "* * * * 9"}}]},
    )
    assert_422(deployed, "triggers[0].config.cron_expression", "day-of-week field: 9")


def test_a_schedule_fires_every_slot_once_and_pause_and_resume(gateway: RunningGateway) -> None:
    client = gateway.client()
    schedule_id = client.post("/api/v1/schedules", json=EVERY_SECOND).json()["schedule_id"]
    wait_until(lambda: len(fires(gateway, schedule_id)) >= 2, timeout=5)
    paused = client.post(
        f"/api/v1/schedules/{schedule_id}/pause", json={"note": "database migration"}
    )
    assert paused.status_code == 200, paused.text
    view = paused.json()
    assert (view["paused"], view["enabled"], view["note"], view["next_run_at"]) == (
        True,
        False,
        "database migration",
        None,
    )
    assert view["paused_at"] is not None and view["last_run_at"] is not None
    count = len(fires(gateway, schedule_id))
    time.sleep(1.5)
    assert len(fires(gateway, schedule_id)) == count  # a pause removes the job at once
    resumed = client.post(f"/api/v1/schedules/{schedule_id}/resume").json()
    assert (resumed["paused"], resumed["note"], resumed["paused_at"]) == (False, None, None)
    wait_until(lambda: len(fires(gateway, schedule_id)) > count, timeout=3)

    slots = [f["scheduled_at"] for f in fires(gateway, schedule_id)]
    assert len(slots) == len(set(slots)) and not any(
        f["catch_up"] for f in fires(gateway, schedule_id)
    )
    metrics = client.get("/metrics").text
    assert 'highway_cron_skipped_total{reason="paused"} 1.0' in metrics or (
        'highway_cron_skipped_total{reason="paused"} 2.0' in metrics
    )
    assert f'highway_cron_fires_total{{kind="on_time"}} {len(slots)}.0' in metrics
    assert "highway_cron_fire_lateness_seconds_bucket" in metrics
    health = client.get("/health/detailed").json()["plugins_health"]["highway-triggers-cron"]
    assert health["running"] is True and health["jobs"] == 1
    assert health["next_fire"]["schedule_id"] == schedule_id


def test_a_schedule_created_paused_does_not_fire(gateway: RunningGateway) -> None:
    client = gateway.client()
    created = client.post("/api/v1/schedules", json={**EVERY_SECOND, "enabled": False}).json()
    assert created["paused"] is True and created["next_run_at"] is None
    time.sleep(1.2)
    assert fires(gateway, created["schedule_id"]) == []
    health = client.get("/health/detailed").json()["plugins_health"]["highway-triggers-cron"]
    assert (health["jobs"], health["next_fire"]) == (0, None)


def test_preview_marks_dst_transitions(gateway: RunningGateway) -> None:
    client = gateway.client()
    schedule = client.post(
        "/api/v1/schedules",
        json={
            "cron_expression": "30 2 * * *",
            "timezone": "America/New_York",
            "workflow_id": "wf",
            "start_at": "2030-03-09T00:00:00-05:00",
        },
    ).json()
    preview = client.get(f"/api/v1/schedules/{schedule['schedule_id']}/preview?count=3").json()
    assert preview["timezone"] == "America/New_York"
    assert [f["local"] for f in preview["fires"]] == [
        "2030-03-09T02:30:00-05:00",
        "2030-03-10T03:00:00-04:00",  # 02:30 does not exist that night
        "2030-03-11T02:30:00-04:00",
    ]
    assert [f["dst"] for f in preview["fires"]] == [False, True, True]
    assert [f["transition"] for f in preview["fires"]] == [
        None,
        {
            "kind": "spring_forward",
            "at": "2030-03-10T07:00:00Z",
            "offset_before": "-05:00",
            "offset_after": "-04:00",
        },
        None,
    ]
    assert schedule["next_run_at"] == "2030-03-09T07:30:00Z"


def test_a_schedule_may_start_a_template(gateway: RunningGateway) -> None:
    client = gateway.client()
    template = {"tenant_id": "acme", "name": "nightly", "workflow_definition": {"id": "wf-nightly"}}
    assert client.post("/api/v1/templates", json=template).status_code == 201
    body = {"cron_expression": "* * * * * *", "template": "nightly", "tenant_id": "acme"}
    created = client.post("/api/v1/schedules", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert (schedule["template"], schedule["workflow_id"]) == ("nightly", "wf-nightly")
    wait_until(lambda: fires(gateway, schedule["schedule_id"]), timeout=3)
    assert gateway.gateway.engine.calls[0].workflow_id == "wf-nightly"
    missing = client.post("/api/v1/schedules", json={**body, "template": "weekly"})
    assert_422(missing, "template", "weekly")


def test_tenant_scope(gateway: RunningGateway) -> None:
    admin = gateway.client()
    clients = {}
    for tenant in ("acme", "globex"):
        token = tenant_token(gateway, tenant)
        clients[tenant] = gateway.client(token=token)
    acme = clients["acme"].post("/api/v1/schedules", json=DAILY)
    assert acme.status_code == 201 and acme.json()["tenant_id"] == "acme"
    acme_id = acme.json()["schedule_id"]
    admin.post("/api/v1/schedules", json={**DAILY, "tenant_id": "globex"})

    assert [
        s["tenant_id"] for s in clients["acme"].get("/api/v1/schedules").json()["schedules"]
    ] == ["acme"]
    assert clients["globex"].get(f"/api/v1/schedules/{acme_id}").status_code == 404
    assert clients["globex"].delete(f"/api/v1/schedules/{acme_id}").status_code == 404
    stolen = clients["acme"].post("/api/v1/schedules", json={**DAILY, "tenant_id": "globex"})
    assert stolen.status_code == 403 and stolen.json()["code"] == "FORBIDDEN"
    assert admin.get("/api/v1/schedules", params={"tenant_id": "globex"}).json()["count"] == 1
    assert admin.get("/api/v1/schedules").json()["count"] == 2
    anonymous = gateway.client(token=None).get("/api/v1/schedules")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "UNAUTHORIZED"


def test_cron_triggers_deployed_with_a_workflow_stop_when_it_is_undeployed(
    gateway: RunningGateway,
) -> None:
    client = gateway.client()
    deployed = client.post(
        "/api/v1/deployment/workflows/wf-deployed/deploy",
        json={"triggers": [{"type": "CRON", "config": {"cron_expression": "* * * * * *"}}]},
    )
    assert deployed.status_code == 200, deployed.text
    (trigger,) = deployed.json()["triggers"]
    wait_until(lambda: fires(gateway, trigger["trigger_id"]), timeout=3)
    assert (
        client.get(f"/api/v1/schedules/{trigger['trigger_id']}").json()["workflow_id"]
        == "wf-deployed"
    )
    client.post("/api/v1/deployment/workflows/wf-deployed/undeploy")
    count = len(fires(gateway, trigger["trigger_id"]))
    time.sleep(1.2)
    assert len(fires(gateway, trigger["trigger_id"])) == count


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the jitter, not the claims
def test_a_workflow_deployed_again_keeps_its_jitter_and_fires_each_slot_once(
    gateway: RunningGateway,
) -> None:
    """Each deploy makes a new trigger: its jitter comes from the workflow, tenant,
    expression and zone, not the trigger's id, so the new one takes over at the slot
    after the last its predecessor fired (a new jitter larger than the old one fired that
    slot again, a smaller one skipped the next). Deployed again eight times within four
    seconds, every slot fires once."""
    client = gateway.client()
    config = {"cron_expression": "* * * * * *", "jitter_seconds": 0.9}

    def deploy() -> str:
        body = {"triggers": [{"type": "CRON", "config": config}]}
        deployed = client.post("/api/v1/deployment/workflows/wf-redeployed/deploy", json=body)
        assert deployed.status_code == 200, deployed.text
        (trigger,) = deployed.json()["triggers"]
        schedule = client.get(f"/api/v1/schedules/{trigger['trigger_id']}").json()
        return str(schedule["jitter_offset_seconds"])

    first = deploy()
    for _ in range(8):
        time.sleep(0.5)
        assert deploy() == first
    time.sleep(1.5)
    slots = [
        call.data["trigger_data"]["scheduled_at"]
        for call in gateway.gateway.engine.calls
        if call.workflow_id == "wf-redeployed"
    ]
    assert len(slots) >= 4 and len(set(slots)) == len(slots), slots


def test_a_fire_the_database_refuses_is_tried_again_and_no_slot_is_lost(
    gateway: RunningGateway,
) -> None:
    """The claims' table gone for 1.5 s (a failover, as the fires see it): each slot due
    meanwhile fails, is tried again, and fires once the database takes it, late."""
    client = gateway.client()
    body = {"triggers": [{"type": "CRON", "config": {"cron_expression": "* * * * * *"}}]}
    deployed = client.post("/api/v1/deployment/workflows/wf-outage/deploy", json=body)
    assert deployed.status_code == 200, deployed.text
    (trigger,) = deployed.json()["triggers"]
    wait_until(lambda: fires(gateway, trigger["trigger_id"]), timeout=3)
    engine = gateway.gateway.db.engine
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE cron_claims RENAME TO cron_claims_away")
    time.sleep(1.5)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE cron_claims_away RENAME TO cron_claims")
    time.sleep(2.5)
    client.post("/api/v1/deployment/workflows/wf-outage/undeploy")
    fired = sorted(
        datetime.fromisoformat(d["scheduled_at"]) for d in fires(gateway, trigger["trigger_id"])
    )
    seconds = [int((slot - fired[0]).total_seconds()) for slot in fired]
    assert seconds == list(range(len(fired))) and len(fired) >= 5, fired
