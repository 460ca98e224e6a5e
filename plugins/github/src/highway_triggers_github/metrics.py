"""The plugin's Prometheus metrics, registered on the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from highway_triggers import RouteResult


class GitHubMetrics:
    """Deliveries by event type and outcome, and refusals by error code."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._deliveries = Counter(
            "highway_github_deliveries",
            "Verified GitHub deliveries by event type and outcome: delivered (runs started or "
            "resumed), filtered (no trigger takes this event type, repository or filter), "
            "duplicate (a redelivery), ping.",
            ["event", "outcome"],
            registry=registry,
        )
        self._refused = Counter(
            "highway_github_refused",
            "GitHub deliveries refused before routing, by error code (INVALID_SIGNATURE …).",
            ["code"],
            registry=registry,
        )

    def routed(self, event: str, result: RouteResult) -> None:
        outcome = (
            "duplicate" if result.duplicate else "delivered" if result.delivered_to else "filtered"
        )
        self._deliveries.labels(event, outcome).inc()

    def pinged(self) -> None:
        self._deliveries.labels("ping", "ping").inc()

    def refused(self, code: str) -> None:
        self._refused.labels(code).inc()
