"""The scheduler's Prometheus metrics, registered on the gateway's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

KINDS = ("on_time", "catch_up")
REASONS = ("paused", "missed", "coalesced", "lost_claim", "inactive", "error")
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class CronMetrics:
    """Fires, skipped slots by reason, fire lateness, and the number of scheduled jobs."""

    def __init__(self, registry: CollectorRegistry, jobs: Callable[[], int]) -> None:
        fires = Counter(
            "highway_cron_fires",
            "Schedule fires this replica committed: on_time, or catch_up after a restart.",
            ["kind"],
            registry=registry,
        )
        skipped = Counter(
            "highway_cron_skipped",
            "Schedule slots this replica did not fire, by reason: paused; missed (older than the "
            "catch-up window); coalesced (into one catch-up fire); lost_claim (another replica "
            "fired it); inactive (the trigger version is no longer active); error.",
            ["reason"],
            registry=registry,
        )
        self._lateness = Histogram(
            "highway_cron_fire_lateness_seconds",
            "From an on-time fire's due time (its slot plus the schedule's jitter) to its commit.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        Gauge(
            "highway_cron_jobs", "Schedules this replica has a job for.", registry=registry
        ).set_function(jobs)
        self._fires = {kind: fires.labels(kind) for kind in KINDS}
        self._skipped = {reason: skipped.labels(reason) for reason in REASONS}

    def fired(self, lateness: float | None) -> None:
        """One fire committed: on time with its lateness, or a catch-up (``None``)."""
        if lateness is None:
            self._fires["catch_up"].inc()
        else:
            self._fires["on_time"].inc()
            self._lateness.observe(lateness)

    def skipped(self, reason: str, count: int = 1) -> None:
        if count:
            self._skipped[reason].inc(count)
