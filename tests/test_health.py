"""``/health/detailed`` says ``degraded`` and names the problems when part of the gateway
does not work (200: it serves the rest); ``/health`` stays a liveness answer."""

from __future__ import annotations

from typing import Any

import pytest

from highway_triggers import hookimpl
from highway_triggers.core.plugins import PluginInfo, load_plugins
from highway_triggers.db.database import Database
from highway_triggers.gateway import Gateway
from highway_triggers.plugin import GatewayContext
from highway_triggers.db.tables import TRIGGERS
from highway_triggers.settings import Settings
from highway_triggers.testing import RunningGateway, running_gateway, wait_until


def detailed(gateway: RunningGateway) -> dict[str, Any]:
    answer = gateway.client().get("/health/detailed")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def assert_alive(gateway: RunningGateway) -> None:
    answer = gateway.client(token=None).get("/health")
    assert answer.json() == {"service": "highway-triggers", "status": "healthy"}


def test_a_trigger_whose_stored_config_no_longer_validates_degrades_health(
    settings: Settings,
) -> None:
    deploy = {"triggers": [{"type": "MANUAL", "config": {}}]}
    with running_gateway(settings) as first:
        deployed = first.client().post("/api/v1/deployment/workflows/wf-stale/deploy", json=deploy)
        assert deployed.status_code == 200, deployed.text
        (trigger,) = deployed.json()["triggers"]
        assert detailed(first)["problems"] == []
    # what was stored no longer validates (say, a newer plugin dropped an option)
    database = Database(settings.database_url)
    try:
        with database.engine.begin() as conn:
            conn.execute(
                TRIGGERS.update()
                .where(TRIGGERS.c.workflow_id == "wf-stale")
                .values(trigger_config={"retired_option": True})
            )
    finally:
        database.close()

    with running_gateway(settings) as second:
        body = detailed(second)
        assert body["status"] == "degraded"
        (problem,) = body["problems"]
        assert problem.startswith(f"trigger {trigger['trigger_id']} not running: invalid stored")
        assert "retired_option" in problem and "\n" not in problem and len(problem) <= 240
        assert body["triggers"]["errors"].keys() == {trigger["trigger_id"]}
        assert_alive(second)


@pytest.mark.parametrize(("restart", "state"), [(False, "failed"), (True, "restarting")])
def test_a_failing_background_task_degrades_health(
    gateway: RunningGateway, restart: bool, state: str
) -> None:
    async def broken() -> None:
        raise RuntimeError("cannot reach the mail server")

    async def spawn() -> None:
        gateway.context.tasks.spawn("test-mail-watcher", broken, restart=restart)

    assert detailed(gateway)["status"] == "healthy"
    gateway.run(spawn())
    body = wait_until(lambda: (found := detailed(gateway))["status"] == "degraded" and found)
    assert body["problems"] == [
        f"task test-mail-watcher {state}: RuntimeError: cannot reach the mail server"
    ]
    assert_alive(gateway)


class Reporting:
    """An in-process plugin whose health reports what it cannot do."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    @hookimpl
    def highway_health(self, gateway: GatewayContext) -> dict[str, Any]:
        return {"watching": 1, "problems": list(self.problems)}


def test_problems_a_plugin_reports_degrade_health(settings: Settings) -> None:
    plugin = Reporting()
    plugins = load_plugins(settings.load_plugins, settings.trace_plugins)
    plugins.pm.register(plugin, name="reporting")
    plugins.infos.append(PluginInfo("reporting", "reporting", "0"))
    with running_gateway(gateway=Gateway(settings, plugins)) as gateway:
        body = detailed(gateway)
        assert (body["status"], body["problems"]) == ("healthy", [])
        plugin.problems = ["mailbox ops@example.org: LoginError: authentication failed"]
        body = detailed(gateway)
        assert body["status"] == "degraded"
        assert body["problems"] == [
            "plugin reporting: mailbox ops@example.org: LoginError: authentication failed"
        ]
        assert body["plugins_health"]["reporting"]["problems"] == plugin.problems
        plugin.problems = []
        assert detailed(gateway)["status"] == "healthy"
        assert_alive(gateway)
