"""Repository-wide pytest policy: in CI (``CI`` set) no test may be skipped.

Tests that need PostgreSQL, Dovecot or a browser may skip on a laptop that lacks
them; CI provides them, so a skip there means something is missing.
"""

import os

import pytest

pytest_plugins = ["highway_triggers.fixtures"]

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _skipped:
        print(f"\nCI: {len(_skipped)} test(s) were skipped, which CI does not allow:")
        for nodeid in _skipped:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
