"""scripts/uv.sh finds or installs uv without pip-installing into the system Python.

The ``python3`` on the test's PATH behaves like Debian's externally managed one: it
refuses ``-m pip`` (PEP 668) and logs every call, so the test sees what ran where.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/bin:/bin"


def externally_managed_python(bin_dir: Path, log: Path) -> None:
    """A ``python3`` that logs its arguments and, like PEP 668, refuses ``-m pip``."""
    bin_dir.mkdir()
    wrapper = bin_dir / "python3"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'case " $* " in *" -m pip "*)\n'
        '  echo "error: externally-managed-environment" >&2; exit 1;;\n'
        "esac\n"
        f'exec "{sys._base_executable}" "$@"\n'
    )
    wrapper.chmod(0o755)


def source_uv_sh(path: str, venv: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=path, HIGHWAY_UV_VENV=str(venv))
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "source scripts/uv.sh; uv --version; command -v uv"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_uv_is_installed_into_a_private_venv_not_the_system_python(tmp_path: Path) -> None:
    bin_dir, log, venv = tmp_path / "bin", tmp_path / "python3.log", tmp_path / "uv-venv"
    externally_managed_python(bin_dir, log)
    path = f"{bin_dir}:{SYSTEM_PATH}"
    assert shutil.which("uv", path=path) is None  # the precondition: no uv to be found

    first = source_uv_sh(path, venv)
    assert first.returncode == 0, first.stderr
    version, location = first.stdout.split("\n")[:2]
    assert version.startswith("uv 0."), first.stdout
    assert location == str(venv / "bin" / "uv")
    calls = log.read_text().splitlines()
    assert calls == [f"-m venv {venv}"], calls  # the system python3 made the venv, ran no pip

    again = source_uv_sh(path, venv)  # idempotent: the private uv is reused as it is
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert log.read_text().splitlines() == calls


def test_a_uv_on_path_is_used_as_it_is(tmp_path: Path) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "python3.log"
    externally_managed_python(bin_dir, log)
    uv = tmp_path / "uv"
    uv.write_text('#!/bin/sh\necho "uv 0.0.0-on-path"\n')
    uv.chmod(0o755)
    result = source_uv_sh(f"{bin_dir}:{tmp_path}:{SYSTEM_PATH}", tmp_path / "unused-venv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["uv 0.0.0-on-path", str(uv)]
    assert not log.exists() and not (tmp_path / "unused-venv").exists()
