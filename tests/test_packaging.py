"""Packaging: ``scripts/build`` makes a wheel and an sdist of every distribution; the core's
carry what the code needs at run time; the wheels install with plain pip into a fresh
virtual environment, which then lists its plugins and serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path

import httpx
import pytest

from highway_triggers.testing import GatewayProcess, gateway_env

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "highway_triggers"
GOOD_PLUGIN = ROOT / "tests" / "plugin_dists" / "good"  # a third-party plugin, as a folder
PROJECTS = [ROOT, *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))]


def artifacts(project: Path) -> set[str]:
    """The file names of the wheel and the sdist of the distribution at ``project``."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    stem = f"{meta['name'].replace('-', '_')}-{meta['version']}"
    return {f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``scripts/build DIR`` into a folder that holds a wheel of an earlier build."""
    out = tmp_path_factory.mktemp("dist")
    (out / "highway_triggers-0.0.1-py3-none-any.whl").write_bytes(b"an earlier build")
    done = subprocess.run(
        [str(ROOT / "scripts" / "build"), str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Iterator[zipfile.ZipFile]:
    (path,) = dist.glob("highway_triggers-*.whl")
    archive = zipfile.ZipFile(path)
    yield archive
    archive.close()


def test_build_makes_a_wheel_and_an_sdist_of_every_distribution(dist: Path) -> None:
    built = {p.name for p in dist.iterdir() if p.name != ".gitignore"}
    assert built == set().union(*map(artifacts, PROJECTS))  # the earlier build's wheel is gone
    assert {"highway_triggers_cron-0.1.0.tar.gz", "highway_triggers_webhook-0.1.0.tar.gz"} <= built


def test_wheel_carries_migrations_and_templates(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for required in [
        "highway_triggers/db/migrations/env.py",
        "highway_triggers/db/migrations/script.py.mako",
        "highway_triggers/db/migrations/versions/0001_core.py",
    ]:
        assert required in names, required
    # every data file of the source tree is in the wheel (templates, migrations, ...)
    source_files = {
        "highway_triggers/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert source_files <= names, source_files - names
    templates = {
        n
        for n in names
        if n.startswith("highway_triggers/scaffold/template/") and n.endswith(".tmpl")
    }
    assert templates and templates == {n for n in source_files if n.endswith(".tmpl")}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("tests/", "plugins/", "bench/"))]


def test_wheel_declares_the_console_script(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert parser.get("console_scripts", "highway-triggers") == "highway_triggers.cli:main"
    # the core registers no plugin entry point of its own: plugins are distributions
    assert not parser.has_section("highway_triggers")


def test_sdist_holds_the_core_and_nothing_else(dist: Path) -> None:
    """No plugin, test, script or stray binary (a wheel at the top level) rides along."""
    (path,) = dist.glob("highway_triggers-*.tar.gz")
    with tarfile.open(path) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    top = {name.split("/", 1)[0] for name in names}
    assert top == {".gitignore", "PKG-INFO", "README.md", "docs", "pyproject.toml", "src"}, top
    assert not [n for n in names if n.endswith(".whl") or "__pycache__" in n]
    assert "src/highway_triggers/db/migrations/versions/0001_core.py" in names


def clean_env() -> dict[str, str]:
    """This process's environment without what would point a process at the checkout."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("HIGHWAY_")}


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheels_install_and_serve_in_a_fresh_venv_with_plain_pip(
    dist: Path, tmp_path: Path
) -> None:
    """The core and the cron plugin from their wheels, their dependencies from the package
    index, and a third-party plugin from its folder: the README's pip commands."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    (core,) = dist.glob("highway_triggers-*.whl")
    (cron,) = dist.glob("highway_triggers_cron-*.whl")
    run(venv / "bin" / "pip", "install", "--quiet", core, cron, cwd=tmp_path)
    run(venv / "bin" / "pip", "install", "--quiet", GOOD_PLUGIN, cwd=tmp_path)
    command = str(venv / "bin" / "highway-triggers")

    listed = json.loads(run(command, "plugins", "--json", cwd=tmp_path))
    plugins = {p["name"]: (p["trigger_types"], p["error"]) for p in listed}
    assert plugins["highway-triggers-cron"] == (["CRON"], None)
    assert plugins["highway-triggers-testgood"] == (["TESTGOOD"], None)
    assert "highway-triggers-webhook" not in plugins  # not installed
    assert [p["distribution"] for p in listed if p["error"]] == []

    env = {**gateway_env(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path), "PYTHONPATH": ""}
    gateway = GatewayProcess(env, tmp_path / "serve.log", cwd=tmp_path, command=[command])
    gateway.start(timeout=60)
    try:
        health = httpx.get(f"{gateway.url}/health", timeout=10)
        started = httpx.get(f"{gateway.url}/api/v1/testgood/status", timeout=10)
    finally:
        gateway.stop()
    assert health.status_code == 200
    assert started.json() == {"started": True}  # the third-party plugin's start-up hook ran
