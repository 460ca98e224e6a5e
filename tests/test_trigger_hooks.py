"""What a trigger type adds to deploys and to the delivery log, for every plugin:
``resolve_config`` (deploy-time lookups: a name resolved to an id, 422 naming the field
when it does not resolve, 503 when the service is down, nothing stored either way) and
``mismatch`` (why its matcher said no, in the delivery log); and the delivery id a
plugin gives ``router.refused`` / ``router.missed``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from highway_triggers import BaseTrigger, Event, TriggerConfig
from highway_triggers.core.plugins import load_plugins
from highway_triggers.gateway import Gateway
from highway_triggers.plugin import ConfigError, GatewayContext, HTTPError
from highway_triggers.settings import Settings
from highway_triggers.testing import RunningGateway, running_gateway, wait_until

CHANNELS = {"general": "C0001", "random": "C0002"}
"""What the looked-up service knows: channel names and their ids."""
SERVICE = {"up": True, "calls": 0}


class ChannelConfig(TriggerConfig):
    channel: str
    channel_id: str | None = None
    keyword: str = ""


class ChannelTrigger(BaseTrigger):
    """Resolves its channel's name to an id at deploy; takes events holding its keyword."""

    subtype = "CHANNEL"
    Config = ChannelConfig

    @classmethod
    def index_key(cls, config: ChannelConfig) -> str:
        return config.channel_id or config.channel

    @classmethod
    def matches(cls, config: ChannelConfig, event: Event) -> bool:
        return cls.mismatch(config, event) is None

    @classmethod
    def mismatch(cls, config: ChannelConfig, event: Event) -> str | None:
        text = str(event.payload.get("text", ""))
        return None if config.keyword in text else f"{text!r} lacks the keyword {config.keyword!r}"

    @classmethod
    async def resolve_config(
        cls, config: dict[str, Any], *, context: GatewayContext
    ) -> dict[str, Any]:
        await asyncio.sleep(0)  # a real lookup awaits I/O
        SERVICE["calls"] += 1
        if not SERVICE["up"]:
            raise HTTPError(503, "CHANNELS_UNAVAILABLE", "the channel service is down")
        name = config.get("channel")
        if name not in CHANNELS:
            raise ConfigError([{"field": "channel", "message": f"no channel named {name!r}"}])
        return {**config, "channel_id": CHANNELS[name]}


@pytest.fixture
def served(settings: Settings) -> Iterator[RunningGateway]:
    plugins = load_plugins(settings.load_plugins, settings.trace_plugins)
    plugins.trigger_types[ChannelTrigger.subtype] = ChannelTrigger
    SERVICE.update(up=True, calls=0)
    with running_gateway(gateway=Gateway(settings, plugins)) as gateway:
        yield gateway


def deploy(gateway: RunningGateway, workflow_id: str, config: dict[str, Any]) -> httpx.Response:
    return gateway.client().post(
        f"/api/v1/deployment/workflows/{workflow_id}/deploy",
        json={"triggers": [{"type": "CHANNEL", "config": config}]},
    )


def status(gateway: RunningGateway, workflow_id: str) -> tuple[str, list[dict[str, Any]]]:
    """A workflow's deployment status and its triggers' stored configs."""
    answer = gateway.client().get(f"/api/v1/deployment/workflows/{workflow_id}").json()
    return answer["status"], [t["config"] for t in answer["triggers"]]


def test_a_deploy_stores_what_resolve_config_looked_up(served: RunningGateway) -> None:
    answer = deploy(served, "alerts", {"channel": "general"})
    assert answer.status_code == 200, answer.text
    state, configs = status(served, "alerts")
    assert (state, [c["channel_id"] for c in configs]) == ("DEPLOYED", ["C0001"])
    assert SERVICE["calls"] == 1


def test_a_name_that_does_not_resolve_is_a_422_and_changes_nothing(
    served: RunningGateway,
) -> None:
    assert deploy(served, "alerts", {"channel": "general"}).status_code == 200
    refused = deploy(served, "alerts", {"channel": "nowhere"})
    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["field"] == "triggers[0].config.channel"
    assert "no channel named 'nowhere'" in error["message"]
    state, configs = status(served, "alerts")  # the previous deployment stands
    assert (state, [c["channel_id"] for c in configs]) == ("DEPLOYED", ["C0001"])
    assert deploy(served, "fresh", {"channel": "nowhere"}).status_code == 422
    assert status(served, "fresh") == ("UNDEPLOYED", [])


def test_a_service_that_is_down_is_a_503_and_changes_nothing(served: RunningGateway) -> None:
    SERVICE["up"] = False
    answer = deploy(served, "alerts", {"channel": "general"})
    assert (answer.status_code, answer.json()["code"]) == (503, "CHANNELS_UNAVAILABLE")
    assert status(served, "alerts") == ("UNDEPLOYED", [])


def test_stand_alone_triggers_are_resolved_too(served: RunningGateway) -> None:
    admin = served.client()
    created = admin.post(
        "/api/v1/triggers",
        json={"type": "CHANNEL", "workflow_id": "solo", "config": {"channel": "general"}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["config"]["channel_id"] == "C0001"
    trigger = created.json()["trigger_id"]
    # an update giving only the config is resolved by the trigger's current type
    updated = admin.put(f"/api/v1/triggers/{trigger}", json={"config": {"channel": "random"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["config"]["channel_id"] == "C0002"
    refused = admin.put(f"/api/v1/triggers/{trigger}", json={"config": {"channel": "gone"}})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "trigger.config.channel"
    assert admin.get(f"/api/v1/triggers/{trigger}").json()["config"]["channel_id"] == "C0002"


def test_the_delivery_log_says_why_the_matcher_said_no(served: RunningGateway) -> None:
    assert deploy(served, "alerts", {"channel": "general", "keyword": "deploy"}).status_code == 200
    router = served.context.router
    event = Event(subtype="CHANNEL", index_keys=("C0001",), payload={"text": "hello"})
    result = served.run(router.route(event))
    assert result.delivered_to == 0
    row = served.client().get(f"/api/v1/deliveries/{result.event_id}").json()
    assert row["outcome"] == "filtered"
    assert "'hello' lacks the keyword 'deploy'" in row["reason"]
    (target,) = row["targets"]
    assert target["reason"] == "'hello' lacks the keyword 'deploy'"


def test_refusals_and_misses_carry_the_senders_delivery_id(served: RunningGateway) -> None:
    router = served.context.router
    router.refused(
        "CHANNEL", HTTPError(400, "MISSING_HEADER", "X-Thing is required"), delivery_id="d-1"
    )
    router.missed("CHANNEL", "a ping, answered", delivery_id="d-2")

    def logged() -> dict[str, dict[str, Any]]:
        rows = served.client().get("/api/v1/deliveries", params={"source": "CHANNEL"}).json()
        found = {r["delivery_id"]: r for r in rows["deliveries"]}
        return found if {"d-1", "d-2"} <= set(found) else {}

    rows = wait_until(logged)
    assert rows["d-1"]["outcome"] == "refused" and "MISSING_HEADER" in rows["d-1"]["reason"]
    assert rows["d-2"]["outcome"] == "filtered" and rows["d-2"]["reason"] == "a ping, answered"
