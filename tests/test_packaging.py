"""The core's wheel carries everything besides Python modules that the code needs at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "highway_triggers"


def uv_command() -> list[str]:
    if uv := shutil.which("uv"):
        return [uv]
    try:
        import uv as uv_module  # noqa: F401
    except ImportError:
        pytest.skip("uv is not installed")
    return [sys.executable, "-m", "uv"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*uv_command(), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (path,) = out.glob("highway_triggers-*.whl")
    archive = zipfile.ZipFile(path)
    yield archive
    archive.close()


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
    # the core registers no plugin entry point of its own (CONTRACT §1)
    assert not parser.has_section("highway_triggers")
