"""The plugin API as a contract: what plugins may import, the names it exports, and the
primitives that touch the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

import highway_triggers
import highway_triggers.plugin as plugin_api
from highway_triggers import BaseTrigger, Event, TriggerConfig, hookimpl
from highway_triggers.core.plugins import PluginInfo, load_plugins
from highway_triggers.gateway import Gateway
from highway_triggers.plugin import GatewayContext, WaitRequest
from highway_triggers.settings import Settings
from highway_triggers.testing import RunningGateway, running_gateway, wait_until

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = {"highway_triggers", "highway_triggers.plugin"}
TEST_MODULES = PUBLIC_MODULES | {"highway_triggers.testing", "highway_triggers.fixtures"}
DOCS = ROOT / "docs" / "plugins.md"


def outside_public_api(
    source: str, filename: str = "<plugin>", allowed: set[str] = PUBLIC_MODULES
) -> list[str]:
    """The ``highway_triggers`` modules a plugin's source imports besides ``allowed``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "highway_triggers":  # `from highway_triggers import core`
                names = [f"highway_triggers.{alias.name}" for alias in node.names]
                names = [n for n in names if n.removeprefix("highway_triggers.") in _SUBMODULES]
        else:
            continue
        found += [
            f"{filename}:{node.lineno}: {name}"
            for name in names
            if name.split(".")[0] == "highway_triggers" and name not in allowed
        ]
    return found


_SUBMODULES = {p.stem for p in (ROOT / "src" / "highway_triggers").iterdir()} - {"__init__"}


def test_plugins_import_only_the_public_api() -> None:
    sources = sorted(ROOT.glob("plugins/*/src/**/*.py"))
    assert len(sources) > 10, "the plugins' sources were not found"
    violations = [v for f in sources for v in outside_public_api(f.read_text(), str(f))]
    assert violations == []


def test_plugin_tests_add_only_the_testing_helpers() -> None:
    tests = sorted(ROOT.glob("plugins/*/tests/**/*.py"))
    assert len(tests) > 5, "the plugins' tests were not found"
    violations = [v for f in tests for v in outside_public_api(f.read_text(), str(f), TEST_MODULES)]
    assert violations == []
    assert outside_public_api("from highway_triggers.testing import wait_until") != []


@pytest.mark.parametrize(
    "source",
    [
        "from highway_triggers.core.http import read_object",
        "import highway_triggers.db.database",
        "from highway_triggers import core",
        "from highway_triggers.gateway import Gateway",
        "def f():\n    from highway_triggers.core import waits",
    ],
)
def test_the_import_check_catches_a_violation(source: str) -> None:
    assert outside_public_api(source) != []


def test_the_import_check_allows_the_public_api() -> None:
    allowed = (
        "from highway_triggers import BaseTrigger, hookimpl\n"
        "from highway_triggers.plugin import HTTPError, GatewayContext\n"
        "import highway_triggers\nimport highway_triggers.plugin\nimport highway_triggers_cron.api\n"
    )
    assert outside_public_api(allowed) == []


def test_every_public_name_is_exported_and_documented() -> None:
    docs = DOCS.read_text()
    names = sorted({*plugin_api.__all__, *highway_triggers.__all__})
    assert sorted(set(plugin_api.__all__)) == sorted(plugin_api.__all__), "listed twice"
    for name in names:
        assert hasattr(plugin_api if name in plugin_api.__all__ else highway_triggers, name)
        assert re.search(rf"`[^`]*\b{name}\b", docs), f"{name} is not in docs/plugins.md"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"a": ', "MALFORMED_BODY"),
        (b"\xff", "MALFORMED_BODY"),
        (b'{"a": 1, "a": 2}', "UNSUPPORTED_JSON"),
        (b'{"a": NaN}', "UNSUPPORTED_JSON"),
        (b'{"a": [[1]]}', "JSON_TOO_DEEP"),
    ],
)
def test_parse_json_is_the_strict_parser_for_json_inside_a_body(body: bytes, code: str) -> None:
    assert plugin_api.parse_json(b'{"a": [1, "x"]}', max_depth=2) == {"a": [1, "x"]}
    with pytest.raises(plugin_api.HTTPError) as refused:
        plugin_api.parse_json(body, max_depth=2)
    assert (refused.value.status, refused.value.code) == (400, code)


# primitives through a running gateway --------------------------------------------------

MARKS = Table(
    "test_claim_marks",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("note", String, nullable=False),
)


@pytest.fixture
def events_gateway(gateway: RunningGateway) -> RunningGateway:
    """A gateway with an EVENT trigger on ``ping`` of tenant ``acme`` and a plugin table."""
    MARKS.create(gateway.gateway.db.engine)
    created = gateway.client().post(
        "/api/v1/triggers",
        json={
            "type": "EVENT",
            "workflow_id": "on-ping",
            "tenant_id": "acme",
            "config": {"event_type": "ping"},
        },
    )
    assert created.status_code == 201, created.text
    return gateway


def ping(key: str) -> Event:
    return Event("EVENT", ("ping",), {"n": 1}, tenant_id="acme", idempotency_key=key)


def marks(gateway: RunningGateway) -> list[str]:
    with gateway.gateway.db.engine.connect() as conn:
        return list(conn.execute(select(MARKS.c.note)).scalars())


def dispatches(gateway: RunningGateway) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = gateway.client().get("/api/v1/dispatches").json()["dispatches"]
    return found


def mark(note: str, answer: bool) -> Any:
    def claim(conn: Connection) -> bool:
        conn.execute(MARKS.insert().values(note=note))
        return answer

    return claim


def test_route_claim_commits_with_the_dispatches(events_gateway: RunningGateway) -> None:
    router = events_gateway.context.router
    result = events_gateway.run(router.route(ping("k1"), claim=mark("cursor-1", True)))
    assert (result.started, result.refused) == (1, False)
    assert marks(events_gateway) == ["cursor-1"]
    assert [d["dispatch_id"] for d in dispatches(events_gateway)] == list(result.dispatch_ids)


def test_a_refused_claim_writes_nothing(events_gateway: RunningGateway) -> None:
    router = events_gateway.context.router
    refused = events_gateway.run(router.route(ping("k2"), claim=mark("half-written", False)))
    assert refused.refused and refused.delivered_to == 0
    assert marks(events_gateway) == [] and dispatches(events_gateway) == []
    # the delivery id was not taken: the same key may be routed again
    again = events_gateway.run(router.route(ping("k2"), claim=mark("second", True)))
    assert again.started == 1 and not again.duplicate
    assert marks(events_gateway) == ["second"]


def test_a_claim_that_fails_rolls_back_everything(events_gateway: RunningGateway) -> None:
    def broken(conn: Connection) -> bool:
        conn.execute(MARKS.insert().values(note="before the failure"))
        conn.execute(MARKS.insert().values(id=1, note="x"))
        conn.execute(MARKS.insert().values(id=1, note="duplicate primary key"))
        return True

    with pytest.raises(IntegrityError):
        events_gateway.run(events_gateway.context.router.route(ping("k3"), claim=broken))
    assert marks(events_gateway) == [] and dispatches(events_gateway) == []


def test_route_among_verified_triggers_keeps_phase_2(events_gateway: RunningGateway) -> None:
    context: GatewayContext = events_gateway.context
    (trigger,) = context.triggers.candidates("EVENT", ["ping"])
    other_tenant = Event("EVENT", ("ping",), {}, tenant_id="other")
    assert events_gateway.run(context.router.route(other_tenant, among=[trigger])).started == 0
    assert events_gateway.run(context.router.route(ping("k4"), among=[])).started == 0
    assert events_gateway.run(context.router.route(ping("k5"), among=[trigger])).started == 1


def wait_request(token: str) -> WaitRequest:
    return WaitRequest(
        tenant_id="acme", workflow_run_id="run-7", event_name="approval", token=token
    )


def test_a_plugin_wait_is_written_in_the_plugin_transaction(gateway: RunningGateway) -> None:
    context: GatewayContext = gateway.context
    MARKS.create(gateway.gateway.db.engine)

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), context.database.engine.begin() as conn:
        conn.execute(MARKS.insert().values(note="approval row"))
        context.waits.register_in(conn, wait_request("approval:lost"), owner="acme-approvals")
        raise Abandoned
    assert marks(gateway) == []
    hook = gateway.client(token=None).post("/api/v1/hooks/approval:lost", json={})
    assert hook.status_code == 404

    with context.database.engine.begin() as conn:
        conn.execute(MARKS.insert().values(note="approval row"))
        view, created = context.waits.register_in(
            conn, wait_request("approval:kept"), owner="acme-approvals"
        )
    assert created and marks(gateway) == ["approval row"]
    shown = context.waits.get(view["wait_id"])
    assert shown["status"] == "open" and shown["owner"] == "acme-approvals"
    assert "hook_url" not in shown  # the hooks route would not take it

    # the hooks route cannot reach a plugin's wait: only the plugin's own route can
    hook = gateway.client(token=None).post("/api/v1/hooks/approval:kept", json={"ok": 1})
    assert hook.status_code == 404, hook.text
    event = Event("APPROVAL", (), {"decision": "approve"}, correlation_keys=("approval:kept",))
    wrong_owner = gateway.run(context.router.route(event, tokens_only=True, wait_owner="other"))
    assert wrong_owner.resumed == 0
    resumed = gateway.run(
        context.router.route(event, tokens_only=True, wait_owner="acme-approvals")
    )
    assert resumed.resumed == 1
    assert context.waits.get(view["wait_id"])["status"] == "consumed"


def test_a_crashing_task_is_restarted_and_shown_in_health(gateway: RunningGateway) -> None:
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise RuntimeError(f"lost the connection ({len(runs)})")
        await asyncio.Event().wait()

    async def spawn() -> None:
        gateway.context.tasks.spawn("test-watcher", flaky)

    gateway.run(spawn())
    wait_until(lambda: len(runs) == 3)
    tasks = gateway.client().get("/health/detailed").json()["tasks"]
    assert tasks["test-watcher"]["state"] == "running"
    assert tasks["test-watcher"]["failures"] == 2
    assert "lost the connection (2)" in tasks["test-watcher"]["last_error"]


# plugins registered in process --------------------------------------------------------


class FireConfig(TriggerConfig):
    name: str


class FiresOnStartAndStop(BaseTrigger):
    """Reports an occurrence from ``start()`` and from ``stop()``."""

    subtype = "FIRES_ON_LIFECYCLE"
    Config = FireConfig

    async def start(self) -> None:
        await self.fire({"at": "start"}, idempotency_key=f"start:{self.id}:{self.revision}")

    async def stop(self) -> None:
        await self.fire({"at": "stop"}, idempotency_key=f"stop:{self.id}:{self.revision}")


class Probe:
    """An in-process plugin: its health raises, its start-up fails."""

    @hookimpl
    def highway_health(self, gateway: GatewayContext) -> dict[str, Any]:
        raise RuntimeError("the probe is broken")

    @hookimpl
    def highway_startup(self, gateway: GatewayContext) -> None:
        raise RuntimeError("start-up failed on purpose")


def with_plugins(settings: Settings, *extra: tuple[str, object]) -> Gateway:
    plugins = load_plugins(settings.load_plugins, settings.trace_plugins)
    plugins.trigger_types[FiresOnStartAndStop.subtype] = FiresOnStartAndStop
    for name, plugin in extra:
        plugins.pm.register(plugin, name=name)
        plugins.infos.append(PluginInfo(name, name, "0"))
    return Gateway(settings, plugins)


def stored_dispatches(settings: Settings) -> list[Any]:
    from highway_triggers.core.dispatches import list_dispatches
    from highway_triggers.db.database import Database

    database = Database(settings.database_url)
    try:
        return [d["payload"] for d in list_dispatches(database, workflow_id="lifecycle")]
    finally:
        database.close()


def test_a_trigger_may_fire_from_start_and_stop(settings: Settings) -> None:
    deploy = {"triggers": [{"type": "FIRES_ON_LIFECYCLE", "config": {"name": "x"}}]}
    with running_gateway(gateway=with_plugins(settings)) as first:
        deployed = first.client().post("/api/v1/deployment/workflows/lifecycle/deploy", json=deploy)
        assert deployed.status_code == 200 and deployed.json()["status"] == "DEPLOYED"
    assert sorted(p["at"] for p in stored_dispatches(settings)) == ["start", "stop"]
    # restored at start-up: the writer runs before triggers start, and after they stop
    with running_gateway(gateway=with_plugins(settings)) as second:
        assert second.client().get("/health").status_code == 200
    assert sorted(p["at"] for p in stored_dispatches(settings)) == ["start", "stop"]


def test_failing_health_and_startup_hooks_are_reported(settings: Settings) -> None:
    with running_gateway(gateway=with_plugins(settings, ("probe", Probe()))) as gw:
        health = gw.client().get("/health/detailed").json()
    assert health["plugins_health"]["probe"] == {"error": "RuntimeError: the probe is broken"}
    failed = {p["name"]: p["error"] for p in health["plugins"]["failed"]}
    assert "start-up failed on purpose" in failed["probe"]
    assert "highway-triggers-cron" in health["plugins_health"]  # the others still answer


@pytest.fixture
def plugin_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("highway_triggers.core.plugins")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_trace_plugins_traces_hook_calls(
    settings: Settings, plugin_log: list[logging.LogRecord]
) -> None:
    traced = settings.model_copy(update={"trace_plugins": True})
    with running_gateway(traced) as gw:
        gw.client().get("/health/detailed")
    text = "\n".join(r.getMessage() for r in plugin_log)
    for hook in ("highway_trigger_types", "highway_routes", "highway_startup", "highway_health"):
        assert hook in text, f"{hook} was not traced"
    plugin_log.clear()
    with running_gateway(settings) as gw:
        gw.client().get("/health/detailed")
    assert not any("highway_startup" in r.getMessage() for r in plugin_log)


def test_invalid_plugin_settings_fail_that_plugin_at_start_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIGHWAY_SCHEDULER_TIMEZONE", "Mars/Olympus_Mons")
    with running_gateway(settings) as gw:
        health = gw.client().get("/health/detailed")
        assert health.status_code == 200  # the rest keeps working
        failed = {p["name"]: p["error"] for p in health.json()["plugins"]["failed"]}
    assert "HIGHWAY_SCHEDULER_TIMEZONE" in failed["highway-triggers-cron"]
    assert "Mars/Olympus_Mons" in failed["highway-triggers-cron"]


def docs_example(name: str) -> ModuleType:
    """The code block of docs/plugins.md marked ``<!-- example: name -->``, as a module."""
    text = DOCS.read_text()
    marker = text.index(f"<!-- example: {name} -->")
    start = text.index("```python\n", marker) + len("```python\n")
    module = ModuleType(f"docs_example_{name}")
    exec(compile(text[start : text.index("```", start)], str(DOCS), "exec"), module.__dict__)
    return module


def test_the_docs_example_plugin_runs(settings: Settings) -> None:
    example = docs_example("heartbeat")
    gateway = with_plugins(settings, ("highway-triggers-heartbeat", example))
    gateway.plugins.trigger_types["HEARTBEAT"] = example.HeartbeatTrigger
    with running_gateway(gateway=gateway) as gw:
        client = gw.client()
        triggers = [
            {"type": "HEARTBEAT", "config": {"service": "billing"}},
            {"type": "HEARTBEAT", "config": {"service": "self", "every_seconds": 0.2}},
        ]
        deployed = client.post(
            "/api/v1/deployment/workflows/beats/deploy", json={"triggers": triggers}
        )
        assert deployed.status_code == 200 and deployed.json()["status"] == "DEPLOYED"
        posted = client.post("/api/v1/heartbeats/billing", json={"ok": True})
        assert posted.status_code == 202 and posted.json()["delivered_to"] == 1

        def beats() -> list[int]:
            found = client.get("/api/v1/dispatches", params={"workflow_id": "beats"}).json()
            return [d["payload"]["slot"] for d in found["dispatches"] if "slot" in d["payload"]]

        slots = wait_until(lambda: len(beats()) >= 3 and beats())
        assert len(slots) == len(set(slots)), "a slot fired twice"
        health = client.get("/health/detailed").json()
        (beating,) = health["plugins_health"]["highway-triggers-heartbeat"]["beating"]
        assert health["tasks"][beating]["state"] == "running" and beating in health["leases"]
