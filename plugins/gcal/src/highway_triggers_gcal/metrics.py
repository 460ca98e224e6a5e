"""The plugin's Prometheus metrics, registered on the gateway's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from highway_triggers import RouteResult
from highway_triggers_gcal.config import CHANGES
from highway_triggers_gcal.google import Refused, Revoked, Unavailable

SYNCS = ("baseline", "incremental", "full")
OUTCOMES = ("delivered", "filtered", "duplicate")
ERRORS = ("revoked", "unavailable", "refused", "error")


class GcalMetrics:
    """Syncs by kind, changes by change and outcome, failed rounds by kind, and how many
    calendar triggers this replica polls."""

    def __init__(self, registry: CollectorRegistry, polling: Callable[[], int]) -> None:
        syncs = Counter(
            "highway_gcal_syncs",
            "Calendar syncs done by this replica, by kind: baseline (the first after a deploy, "
            "fires nothing), incremental (with the sync token), full (after a 410 Gone).",
            ["kind"],
            registry=registry,
        )
        changes = Counter(
            "highway_gcal_changes",
            "Calendar changes routed by this replica, by change (created, updated, cancelled, "
            "starting) and outcome: delivered (runs started or resumed), filtered (the "
            "trigger's filters do not take it), duplicate (routed already).",
            ["change", "outcome"],
            registry=registry,
        )
        errors = Counter(
            "highway_gcal_errors",
            "Failed poller rounds, by kind: revoked (the token endpoint refused the "
            "credentials: the trigger stops), unavailable (429, 5xx, unreachable), refused "
            "(any other error answer), error (anything else).",
            ["kind"],
            registry=registry,
        )
        Gauge(
            "highway_gcal_calendars_polling",
            "GOOGLE_CALENDAR triggers this replica polls now (it holds their lease).",
            registry=registry,
        ).set_function(polling)
        self._syncs = {kind: syncs.labels(kind) for kind in SYNCS}
        self._changes: dict[tuple[str, str], Counter] = {
            (change, outcome): changes.labels(change, outcome)
            for change in CHANGES
            for outcome in OUTCOMES
        }
        self._errors = {kind: errors.labels(kind) for kind in ERRORS}

    def synced(self, kind: str) -> None:
        self._syncs[kind].inc()

    def routed(self, change: str, result: RouteResult) -> None:
        if result.refused:
            return
        outcome = (
            "duplicate" if result.duplicate else "delivered" if result.delivered_to else "filtered"
        )
        self._changes[(change, outcome)].inc()

    def failed(self, error: Exception) -> None:
        kind = (
            "revoked"
            if isinstance(error, Revoked)
            else "unavailable"
            if isinstance(error, Unavailable)
            else "refused"
            if isinstance(error, Refused)
            else "error"
        )
        self._errors[kind].inc()
