"""Hostile WEBHOOK configs and requests: paths with dot segments, durations of 1e300 or
Infinity, bodies of the wrong type; each a 4xx naming the field, and nothing stored that
would break ``GET /api/v1/triggers``."""

from __future__ import annotations

import math
from typing import Any

import pytest
from webhook_hub import Hub

from highway_triggers.plugin import ConfigError


def refused_deploy(hub: Hub, config: dict[str, Any], field: str) -> None:
    answer = hub.admin.post(
        "/api/v1/deployment/workflows/wf-hostile/deploy",
        json={"triggers": [{"type": "WEBHOOK", "config": config}]},
    )
    assert field in hub.refused(answer, 422, "VALIDATION_ERROR")["message"], config


def test_dot_segments_and_long_paths_are_refused_at_deploy(hub: Hub) -> None:
    for path in ("a/../b", "../a", "a/..", "./a", "a/./b", "..", ".", "p" * 201, "a%2Fb", "é"):
        refused_deploy(hub, {"webhook_path": path}, "webhook_path")
    hub.deploy({"webhook_path": "a/...b/.hidden/" + "p" * 180})  # dots inside a name are fine


def test_the_public_route_refuses_paths_no_webhook_can_have(hub: Hub) -> None:
    workflow = hub.deploy({"webhook_path": "dots/target"})
    for path in ("dots/x/%2E%2E/target", "dots/%2E/target", "p" * 300):
        hub.refused(hub.post(path), 400, "INVALID_PATH")
    hub.accepted(hub.post("dots/target"))
    hub.starts(workflow)


def test_durations_and_sizes_out_of_bounds_are_refused(hub: Hub) -> None:
    for config, field in (
        ({"dedup_retention_seconds": 1e300}, "dedup_retention_seconds"),
        ({"timestamp_tolerance_seconds": 1e300}, "timestamp_tolerance_seconds"),
        ({"max_body_bytes": 2**62}, "max_body_bytes"),
    ):
        refused_deploy(hub, config, field)
    listed = hub.admin.get("/api/v1/triggers", params={"workflow_id": "wf-hostile"})
    assert listed.status_code == 200 and listed.json()["count"] == 0


def test_non_finite_numbers_never_reach_the_trigger_index(hub: Hub) -> None:
    """A plugin that hands a float straight to the deployment service (no JSON parser in
    between) is refused too, and the trigger list keeps answering."""
    deployments = hub.gateway.context.deployments
    for value in (math.inf, math.nan):
        for field in ("timestamp_tolerance_seconds", "dedup_retention_seconds"):
            config = {field: value}
            trigger = {"type": "WEBHOOK", "workflow_id": "wf-infinite", "config": config}
            with pytest.raises(ConfigError) as refused:
                hub.gateway.run(deployments.create_trigger(trigger))
            assert refused.value.errors[0]["field"] == f"trigger.config.{field}"
            body = {"triggers": [{"type": "WEBHOOK", "config": config}]}
            with pytest.raises(ConfigError) as refused:
                hub.gateway.run(deployments.deploy("wf-infinite", body))
            assert refused.value.errors[0]["field"] == "body"
    listed = hub.admin.get("/api/v1/triggers")
    assert listed.status_code == 200, listed.text


def test_registration_bodies_of_the_wrong_type(hub: Hub) -> None:
    good = {"tenant_id": "acme", "workflow_run_id": "run-1"}
    for body, field in (
        ({**good, "tenant_id": ["acme"]}, "tenant_id"),
        ({**good, "tenant_id": "a/b"}, "tenant_id"),
        ({**good, "workflow_id": {"id": 1}}, "workflow_id"),
        ({**good, "workflow_run_id": "run\x01"}, "workflow_run_id"),
        ({**good, "dedup_retention_seconds": 1e300}, "dedup_retention_seconds"),
        ({**good, "timestamp_tolerance_seconds": 1e300}, "timestamp_tolerance_seconds"),
    ):
        answer = hub.admin.post("/api/v1/webhook-registrations", json=body)
        assert field in hub.refused(answer, 422, "VALIDATION_ERROR")["message"], body
