"""The default retry schedule rides out an engine outage of an hour."""

import pytest

from highway_triggers.core.dispatcher import JITTER, backoff_seconds
from highway_triggers.settings import Settings

DEFAULTS = Settings.model_construct()  # the defaults, whatever the environment holds


def default_window(jitter: float) -> float:
    """Seconds from a dispatch's first attempt to its last, every wait drawn at ``jitter``."""
    return sum(
        backoff_seconds(
            attempts,
            DEFAULTS.dispatch_backoff_base_seconds,
            DEFAULTS.dispatch_backoff_max_seconds,
            jitter,
        )
        for attempts in range(1, DEFAULTS.dispatch_max_attempts)  # no wait after the last
    )


def test_the_default_schedule_outlasts_an_hour_even_at_the_least_jitter() -> None:
    worst = default_window(JITTER[0])
    assert worst >= 3600, f"a dispatch is dead {worst:.0f} s after the engine went down"
    assert worst == pytest.approx(6211.5)  # the README states 1 h 43 min to 3 h 27 min
    assert default_window(JITTER[1]) == pytest.approx(12423)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    assert [backoff_seconds(n, 1.0, 600.0, 1.0) for n in (1, 2, 3, 10, 11, 30)] == [
        1,
        2,
        4,
        512,
        600,
        600,
    ]
    for attempts in range(1, 40):
        nominal = min(600.0, 2.0 ** (attempts - 1))
        delay = backoff_seconds(attempts, 1.0, 600.0)
        assert nominal * JITTER[0] <= delay <= nominal * JITTER[1]
    assert backoff_seconds(5000, 1.0, 600.0, 1.0) == 600, "no float overflow past 2^1023"
