"""The plugin system with plugins installed as distributions, found through entry points.

The distributions under ``tests/plugin_dists/`` are built and installed once per
session, each into its own ``--target`` folder; a test makes some of them visible by
putting their folders on ``sys.path`` (in process) or ``PYTHONPATH`` (the CLI).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from highway_triggers.core.errors import PluginConflictError
from highway_triggers.core.plugins import PluginInfo, load_plugins
from highway_triggers.db import migrate
from highway_triggers.db.database import Database
from highway_triggers.settings import Settings
from highway_triggers.testing import ADMIN_TOKEN, GatewayProcess, running_gateway, wait_until

DISTS = Path(__file__).parent / "plugin_dists"
GOOD = "highway-triggers-testgood"
BROKEN = "highway-triggers-testbroken"
CONFLICT = "highway-triggers-testconflict"
TYPO = "highway-triggers-testtypo"
SAME_NAME = "highway-triggers-testsamename"
CORE_HEADS = set(
    ScriptDirectory.from_config(
        migrate.alembic_config(migrate.MIGRATIONS / "versions", migrate.CORE_VERSION_TABLE)
    ).get_heads()
)

Use = Callable[..., dict[str, str]]  # use(*distributions) -> environment for the CLI


def install(source: Path, target: Path, env: dict[str, str]) -> None:
    """``pip install --no-deps --no-build-isolation --target`` (or uv's equivalent), offline."""
    if importlib.util.find_spec("pip") is not None:
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-index"]
    elif uv := shutil.which("uv"):
        command = [uv, "pip", "install", "-q", "--offline", "--python", sys.executable]
    else:
        pytest.fail("installing the test plugins needs pip or uv")
    command += ["--no-deps", "--no-build-isolation", "--target", str(target), str(source)]
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of subprocesses: bytecode cached outside the repo, so each is fast."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    }
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    env["UV_CACHE_DIR"] = str(tmp_path_factory.mktemp("uv-cache"))  # never a stale build
    env.pop("HIGHWAY_LOAD_PLUGINS", None)
    return env


@pytest.fixture(scope="session")
def installed(
    tmp_path_factory: pytest.TempPathFactory, base_env: dict[str, str]
) -> dict[str, Path]:
    """Each test distribution installed in its own folder, by distribution name."""
    root = tmp_path_factory.mktemp("plugin-dists")
    folders = {
        f"highway-triggers-test{name}": root / name
        for name in ("good", "broken", "conflict", "typo", "samename")
    }
    for folder in folders.values():
        install(DISTS / folder.name, folder, base_env)
    return folders


@pytest.fixture
def use(
    installed: dict[str, Path], base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Use:
    """Make the named distributions installed for this test; the environment for the CLI."""
    monkeypatch.delenv("HIGHWAY_LOAD_PLUGINS", raising=False)

    def use(*names: str) -> dict[str, str]:
        for name in names:
            monkeypatch.syspath_prepend(str(installed[name]))
        return {**base_env, "PYTHONPATH": os.pathsep.join(str(installed[n]) for n in names)}

    return use


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``highway-triggers ARGS`` in a new process (``python -m`` so the venv's script isn't needed)."""
    return subprocess.run(
        [sys.executable, "-m", "highway_triggers.cli", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cli_plugins(env: dict[str, str]) -> dict[str, dict[str, object]]:
    done = cli("plugins", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {p["name"]: p for p in json.loads(done.stdout)}


def info(plugins: list[PluginInfo], name: str) -> PluginInfo:
    return next(p for p in plugins if p.name == name)


def test_installed_plugin_is_discovered(use: Use, installed: dict[str, Path]) -> None:
    env = use(GOOD)
    plugins = load_plugins()
    assert "TESTGOOD" in plugins.trigger_types
    trigger = plugins.trigger_types["TESTGOOD"]
    assert Path(sys.modules[trigger.__module__].__file__ or "").is_relative_to(installed[GOOD])
    good = info(plugins.infos, GOOD)
    assert (good.distribution, good.version, good.trigger_types, good.error) == (
        GOOD,
        "1.2.3",
        ["TESTGOOD"],
        None,
    )
    assert not plugins.failed

    listed = cli_plugins(env)
    assert listed[GOOD] == {
        "name": GOOD,
        "distribution": GOOD,
        "version": "1.2.3",
        "trigger_types": ["TESTGOOD"],
        "engines": [],
        "error": None,
    }
    assert "MANUAL" in listed["highway_triggers.builtin.manual"]["trigger_types"]


def test_plugin_not_installed_is_not_loaded(use: Use) -> None:
    use()
    plugins = load_plugins()
    assert "TESTGOOD" not in plugins.trigger_types
    assert GOOD not in {p.name for p in plugins.infos}


def test_broken_plugin_is_skipped_and_reported(use: Use) -> None:
    env = use(GOOD, BROKEN)
    # not caplog: create_app() stops the highway_triggers loggers from propagating to the root
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("highway_triggers.core.plugins")
    logger.addHandler(handler)
    try:
        plugins = load_plugins()
    finally:
        logger.removeHandler(handler)
    broken = info(plugins.infos, BROKEN)
    assert broken.distribution == BROKEN and broken.version == "1.2.3"
    assert broken.error is not None and "broken on purpose" in broken.error
    assert [p.name for p in plugins.failed] == [BROKEN]
    assert "TESTGOOD" in plugins.trigger_types
    assert any(BROKEN in r.getMessage() and "broken on purpose" in r.getMessage() for r in records)

    assert "broken on purpose" in str(cli_plugins(env)[BROKEN]["error"])
    text = cli("plugins", env=env)
    assert text.returncode == 0, text.stderr
    line = next(line for line in text.stdout.splitlines() if line.startswith(BROKEN))
    assert "FAILED" in line and "broken on purpose" in line


def test_gateway_serves_despite_broken_plugin(use: Use, settings: Settings) -> None:
    use(GOOD, BROKEN)
    with running_gateway(settings) as gw:
        client = gw.client()
        health = client.get("/health/detailed")
        assert health.status_code == 200, health.text
        failed = health.json()["plugins"]["failed"]
        assert [p["name"] for p in failed] == [BROKEN]
        assert "broken on purpose" in failed[0]["error"]
        assert GOOD in {p["name"] for p in health.json()["plugins"]["loaded"]}
        assert health.json()["status"] == "degraded"
        (problem,) = health.json()["problems"]
        assert problem.startswith(f"plugin {BROKEN} failed: ") and "broken on purpose" in problem
        assert client.get("/health").json()["status"] == "healthy"  # liveness: it serves

        config = {"channel": "alerts", "min_level": 2}
        deployed = client.post(
            "/api/v1/deployment/workflows/wf-good/deploy",
            json={"triggers": [{"type": "TESTGOOD", "config": config}]},
        )
        assert deployed.status_code == 200, deployed.text
        invalid = client.post(
            "/api/v1/deployment/workflows/wf-bad/deploy",
            json={"triggers": [{"type": "TESTGOOD", "config": {"min_level": 2}}]},
        )
        assert invalid.status_code == 422 and "channel" in invalid.text

        def post(channel: str, level: int) -> int:
            answer = client.post(f"/api/v1/testgood/events/{channel}", json={"level": level})
            assert answer.status_code == 202, answer.text
            delivered: int = answer.json()["delivered_to"]
            return delivered

        assert post("alerts", 3) == 1
        assert post("alerts", 1) == 0  # phase 2: matches() says no
        assert post("other", 9) == 0  # phase 1: no trigger on that channel
        recorder = gw.gateway.engine
        wait_until(lambda: len(recorder.calls) == 1)
        assert recorder.calls[0].workflow_id == "wf-good"
        assert recorder.calls[0].data["trigger_data"] == {"level": 3}


def test_triggers_of_a_plugin_no_longer_loaded_degrade_health(use: Use, settings: Settings) -> None:
    use(GOOD)
    deploy = {"triggers": [{"type": "TESTGOOD", "config": {"channel": "alerts", "min_level": 1}}]}
    with running_gateway(settings) as gw:
        deployed = gw.client().post("/api/v1/deployment/workflows/wf-good/deploy", json=deploy)
        assert deployed.status_code == 200, deployed.text
        (trigger,) = deployed.json()["triggers"]
        assert gw.client().get("/health/detailed").json()["status"] == "healthy"
    without_good = settings.model_copy(update={"load_plugins": ""})  # the built-ins only
    with running_gateway(without_good) as gw:
        health = gw.client().get("/health/detailed")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "degraded"
        assert health.json()["problems"] == [
            f"trigger {trigger['trigger_id']} not running: no installed plugin provides TESTGOOD"
        ]


def test_conflicting_subtype_names_both_distributions(use: Use) -> None:
    env = use(GOOD, CONFLICT)
    with pytest.raises(PluginConflictError) as raised:
        load_plugins()
    assert "TESTGOOD" in str(raised.value)
    assert GOOD in str(raised.value) and CONFLICT in str(raised.value)

    done = cli("plugins", "--json", env=env)
    assert done.returncode != 0
    assert GOOD in done.stderr and CONFLICT in done.stderr and "Traceback" not in done.stderr

    assert info(load_plugins(only=GOOD).infos, GOOD).trigger_types == ["TESTGOOD"]
    only_conflict = load_plugins(only=CONFLICT)
    assert only_conflict.trigger_types["TESTGOOD"].__module__ == "highway_triggers_testconflict"
    assert GOOD not in {p.name for p in only_conflict.infos}

    listed = cli_plugins({**env, "HIGHWAY_LOAD_PLUGINS": GOOD})
    assert listed[GOOD]["trigger_types"] == ["TESTGOOD"] and CONFLICT not in listed


def test_plugin_route_is_mounted_and_startup_hook_awaited(use: Use, settings: Settings) -> None:
    use(GOOD)
    with running_gateway(settings) as gw:
        client = gw.client()
        assert client.get("/api/v1/testgood/status").json() == {"started": True}
        paths = client.get("/openapi.json").json()["paths"]
        assert "post" in paths["/api/v1/testgood/events/{channel}"]
        assert paths["/api/v1/testgood/events/{channel}"]["post"]["summary"] == (
            "Route one TESTGOOD event to the triggers of a channel."
        )
        assert "get" in paths["/api/v1/testgood/status"]


def test_db_upgrade_applies_plugin_migrations(
    use: Use, base_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    env = use(GOOD)
    env["HIGHWAY_DATABASE_URL"] = database_url
    done = cli("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr

    def read() -> tuple[set[str], set[str], set[str]]:
        database = Database(database_url)
        try:
            with database.engine.connect() as conn:
                tables = set(sa.inspect(conn).get_table_names())
                core = set(
                    conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
                )
                plugin = set(
                    conn.execute(
                        sa.text("SELECT version_num FROM alembic_version_highway_triggers_testgood")
                    ).scalars()
                )
        finally:
            database.close()
        return tables, core, plugin

    tables, core, plugin = read()
    assert {"testgood_channels", "api_keys", "deliveries"} <= tables
    assert core == CORE_HEADS
    assert plugin == {"testgood_0001"}

    # the plugin is uninstalled: the core's migrations, a gateway and the CLI still work
    without = {
        **base_env,
        "HIGHWAY_DATABASE_URL": database_url,
        "HIGHWAY_DATA_DIR": str(tmp_path),
        "HIGHWAY_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    done = cli("db", "upgrade", env=without)
    assert done.returncode == 0, done.stderr
    gateway = GatewayProcess(without, tmp_path / "serve.log").start()
    try:
        done = cli("triggers", "--url", gateway.url, env=without)
        assert done.returncode == 0, done.stderr
    finally:
        gateway.stop()
    assert read()[1:] == (CORE_HEADS, {"testgood_0001"})


def test_new_plugin_scaffold_installs_and_loads(tmp_path: Path, base_env: dict[str, str]) -> None:
    env = dict(base_env)
    source = tmp_path / "acme-weather"
    done = cli("new-plugin", "acme-weather", "--directory", str(source), env=env)
    assert done.returncode == 0, done.stderr
    assert f"uv pip install --python .venv {source} " in done.stdout  # the README's command
    target = tmp_path / "site"
    install(source, target, env)
    env["PYTHONPATH"] = str(target)

    listed = cli_plugins(env)
    assert listed["acme-weather"]["distribution"] == "acme-weather"
    assert listed["acme-weather"]["trigger_types"] == ["ACME_WEATHER"]
    assert all(p["error"] is None for p in listed.values())

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", "tests"],
        check=False,
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_misspelled_hook_fails_that_plugin_only(use: Use) -> None:
    env = use(TYPO, GOOD)
    loaded = load_plugins()
    typo = info(loaded.infos, TYPO)
    assert typo.error is not None and "unknown hook 'highway_trigger_typs'" in typo.error
    assert "TESTGOOD" in loaded.trigger_types
    done = cli("plugins", env=env)
    assert done.returncode == 0, done.stderr
    assert "unknown hook 'highway_trigger_typs'" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_second_distribution_with_a_taken_entry_point_name_is_reported(use: Use) -> None:
    env = use(GOOD, SAME_NAME)
    plugins = load_plugins()
    named = [p for p in plugins.infos if p.name == GOOD]  # both use the name of GOOD
    assert sorted(p.distribution for p in named) == sorted([GOOD, SAME_NAME])
    (loaded,) = [p for p in named if p.error is None]
    (shadowed,) = [p for p in named if p.error is not None]
    assert shadowed in plugins.failed
    assert shadowed.error is not None and "must be unique" in shadowed.error
    assert loaded.distribution in shadowed.error
    types = {GOOD: "TESTGOOD", SAME_NAME: "TESTSAMENAME"}
    assert types[loaded.distribution] in plugins.trigger_types
    assert types[shadowed.distribution] not in plugins.trigger_types

    text = cli("plugins", env=env)
    assert text.returncode == 0, text.stderr
    assert shadowed.distribution in text.stdout and "must be unique" in text.stdout
