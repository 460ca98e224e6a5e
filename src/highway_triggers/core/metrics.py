"""Prometheus metrics, one registry per app (so tests never share counters)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from highway_triggers.core.event import RouteResult

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Events routed per subtype, routing latency, dispatch outcomes, active triggers.

    The hot path only adds to plain counts (a prometheus_client child takes a lock per
    update); they are turned into metric families when ``/metrics`` is scraped.
    Plugins register their own metrics in ``registry``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._routed: Counter[tuple[str, str]] = Counter()
        self._latency: dict[str, list[int]] = {}
        """Per subtype: observations per bucket of ``LATENCY_BUCKETS``, then past the last."""
        self._latency_sum: dict[str, float] = {}
        self._dispatched: Counter[str] = Counter()
        self._unlogged = 0
        self.registry.register(_CountsCollector(self))

    def routed(self, subtype: str, seconds: float, result: RouteResult) -> None:
        outcome = (
            "duplicate"
            if result.duplicate
            else ("delivered" if result.delivered_to else "unmatched")
        )
        self._routed[(subtype, outcome)] += 1
        buckets = self._latency.get(subtype)
        if buckets is None:
            buckets = self._latency[subtype] = [0] * (len(LATENCY_BUCKETS) + 1)
        buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._latency_sum[subtype] = self._latency_sum.get(subtype, 0.0) + seconds
        self.written(len(result.dispatch_ids))

    def written(self, count: int) -> None:
        """``count`` dispatches were committed (routed events, wait timeouts, kept events
        resuming a wait registered late)."""
        if count:
            self._dispatched["written"] += count

    def dispatched(self, status: str, count: int = 1) -> None:
        self._dispatched[status] += count

    def unlogged(self) -> None:
        """A refused request's delivery log row was dropped: too many were waiting."""
        self._unlogged += 1

    def watch_gauges(
        self, name: str, doc: str, label: str, read: Callable[[], dict[str, int]]
    ) -> None:
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


class _CountsCollector(Collector):
    """The hot-path counts of :class:`Metrics` as Prometheus families."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        m = self._metrics
        routed = CounterMetricFamily(
            "highway_events_routed",
            "Events routed, by trigger subtype and outcome.",
            labels=["subtype", "outcome"],
        )
        for (subtype, outcome), count in sorted(m._routed.items()):
            routed.add_metric([subtype, outcome], count)
        yield routed
        latency = HistogramMetricFamily(
            "highway_routing_seconds",
            "Time from routing an event to its dispatches being committed.",
            labels=["subtype"],
        )
        for subtype, counts in sorted(m._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([subtype], buckets, m._latency_sum[subtype])
        yield latency
        dispatches = CounterMetricFamily(
            "highway_dispatches",
            "Dispatches written, then each delivery outcome: delivered, failed, dead or skipped.",
            labels=["status"],
        )
        for status, count in sorted(m._dispatched.items()):
            dispatches.add_metric([status], count)
        yield dispatches
        yield CounterMetricFamily(
            "highway_deliveries_unlogged",
            "Requests refused at the door whose delivery log row was dropped (too many waiting).",
            value=m._unlogged,
        )
