"""Prometheus metrics, one registry per app (so tests never share counters)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from highway_triggers.core.event import RouteResult

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Events routed per subtype, routing latency, dispatch outcomes, active triggers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._events = Counter(
            "highway_events_routed",
            "Events routed, by trigger subtype and outcome.",
            ["subtype", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "highway_routing_seconds",
            "Time from routing an event to its dispatches being committed.",
            ["subtype"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._dispatches = Counter(
            "highway_dispatches",
            "Dispatches written, then each delivery outcome: delivered, failed, dead or skipped.",
            ["status"],
            registry=self.registry,
        )
        # labelled children, looked up once: ``labels()`` costs more than ``inc()``
        self._routed: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self._dispatched: dict[str, Counter] = {}

    def routed(self, subtype: str, seconds: float, result: RouteResult) -> None:
        outcome = "duplicate" if result.duplicate else ("delivered" if result.delivered_to else "unmatched")
        children = self._routed.get((subtype, outcome))
        if children is None:
            children = (self._events.labels(subtype, outcome), self._latency.labels(subtype))
            self._routed[(subtype, outcome)] = children
        children[0].inc()
        children[1].observe(seconds)
        if result.dispatch_ids:
            self.dispatched("written", len(result.dispatch_ids))

    def dispatched(self, status: str, count: int = 1) -> None:
        child = self._dispatched.get(status)
        if child is None:
            child = self._dispatched[status] = self._dispatches.labels(status)
        child.inc(count)

    def watch_gauges(self, name: str, doc: str, label: str, read: Callable[[], dict[str, int]]) -> None:
        """A gauge computed at scrape time, e.g. active triggers per subtype."""
        self.registry.register(_GaugeCollector(name, doc, label, read))


class _GaugeCollector(Collector):
    def __init__(self, name: str, doc: str, label: str, read: Callable[[], dict[str, int]]) -> None:
        self._name, self._doc, self._label, self._read = name, doc, label, read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._doc, labels=[self._label])
        for value_label, value in sorted(self._read().items()):
            family.add_metric([value_label], value)
        yield family
