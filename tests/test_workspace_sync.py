"""A third-party plugin installed into the scripts' environment the README's way stays there:
scripts/serve, scripts/test and scripts/check sync that environment from the lock file with
``sync_workspace`` (scripts/uv.sh), which leaves distributions the lock does not name alone.

The syncs run against a throwaway environment (``UV_PROJECT_ENVIRONMENT``), never the
project's own ``.venv``, in which other tests run.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_PLUGIN = ROOT / "tests" / "plugin_dists" / "good"
GOOD = "highway-triggers-testgood"
WORKSPACE_PLUGINS = {
    tomllib.loads(pyproject.read_text())["project"]["name"]
    for pyproject in ROOT.glob("plugins/*/pyproject.toml")
}
"""The distributions of the repository's plugins (each one's entry point has its name)."""
INSTALL = "uv pip install --python .venv"  # the README's command for the scripts' environment
FOUND = (
    "import json; from importlib.metadata import entry_points; "
    "print(json.dumps({e.name: e.dist.version for e in entry_points(group='highway_triggers')}))"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """This process's environment, with a throwaway project environment for uv."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "HIGHWAY_LOAD_PLUGINS")
    return {
        **{k: v for k, v in os.environ.items() if k not in drop},
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
    }


def bash(command: str, env: dict[str, str]) -> str:
    """``command`` in the repository's root; its output."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def plugins_found(env: dict[str, str]) -> dict[str, str]:
    """The environment's plugin entry points: name -> its distribution's version."""
    python = Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin" / "python"
    return dict(json.loads(bash(f'"{python}" -c "{FOUND}"', env)))


@pytest.mark.parametrize("script", ["serve", "test", "check"])
def test_the_scripts_sync_only_through_sync_workspace(script: str) -> None:
    text = (ROOT / "scripts" / script).read_text()
    assert "source scripts/uv.sh\nsync_workspace\n" in text
    assert "uv sync" not in text and "--exact" not in text  # `uv run` syncs inexactly too


def test_a_plugin_installed_the_readme_way_survives_the_scripts(env: dict[str, str]) -> None:
    assert f"{INSTALL} ./" in (ROOT / "README.md").read_text()
    bash("source scripts/uv.sh; sync_workspace", env)
    assert plugins_found(env).keys() == WORKSPACE_PLUGINS
    install = INSTALL.replace(".venv", '"$UV_PROJECT_ENVIRONMENT"')
    bash(f"source scripts/uv.sh; {install} {GOOD_PLUGIN}", env)
    assert plugins_found(env)[GOOD] == "1.2.3"

    bash("source scripts/uv.sh; sync_workspace", env)  # what scripts/check runs before its tools
    assert plugins_found(env).keys() == WORKSPACE_PLUGINS | {GOOD}
    assert bash("./scripts/test --version", env).startswith("pytest ")
    assert "highway-triggers serve" in bash("./scripts/serve --help", env)
    assert plugins_found(env).keys() == WORKSPACE_PLUGINS | {GOOD}

    # the check can fail: an exact sync, what the scripts ran before, removes the plugin
    bash("source scripts/uv.sh; uv sync --all-packages --locked --quiet", env)
    assert plugins_found(env).keys() == WORKSPACE_PLUGINS
