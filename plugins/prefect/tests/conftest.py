from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect_server import VENV, Prefect, running_prefect


@pytest.fixture(scope="session")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prefect]:
    """One Prefect server per test session (its tests are one module: ``--dist loadfile``)."""
    if not (VENV / "bin" / "prefect").exists():
        message = f"no Prefect environment at {VENV}: run scripts/test-setup"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with running_prefect(Path(tmp_path_factory.mktemp("prefect"))) as server:
        yield server
