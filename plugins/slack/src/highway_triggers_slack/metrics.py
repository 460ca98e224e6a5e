"""The plugin's Prometheus metrics, registered on the gateway's registry."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter

from highway_triggers import RouteResult
from highway_triggers_slack.config import TYPE_PATTERN

_TYPE = re.compile(TYPE_PATTERN)


class SlackMetrics:
    """Deliveries by type and outcome, refusals by error code, prompts by outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._deliveries = Counter(
            "highway_slack_deliveries",
            "Verified Slack deliveries by type (event type, interaction type, slash_command, "
            "url_verification) and outcome: delivered (runs started or resumed), filtered "
            "(nothing takes it), duplicate (a retry or replay), answered (a challenge, a "
            "notice that starts nothing).",
            ["type", "outcome"],
            registry=registry,
        )
        self._refused = Counter(
            "highway_slack_refused",
            "Slack requests refused before routing, by error code (INVALID_SIGNATURE …).",
            ["code"],
            registry=registry,
        )
        self._prompts = Counter(
            "highway_slack_prompts",
            "Prompts by outcome: posted, failed (Slack refused or could not be asked), "
            "answered (the first click resumed its run), refused (a later click, or one "
            "past the prompt's timeout).",
            ["outcome"],
            registry=registry,
        )

    def routed(self, kind: str | None, result: RouteResult) -> None:
        outcome = (
            "duplicate" if result.duplicate else "delivered" if result.delivered_to else "filtered"
        )
        self._deliveries.labels(_label(kind), outcome).inc()

    def answered(self, kind: str | None) -> None:
        self._deliveries.labels(_label(kind), "answered").inc()

    def refused(self, code: str) -> None:
        self._refused.labels(code).inc()

    def prompt(self, outcome: str) -> None:
        self._prompts.labels(outcome).inc()


def _label(kind: str | None) -> str:
    """A type as a label: Slack's names, anything else ``other`` (labels stay few)."""
    return kind if kind is not None and _TYPE.fullmatch(kind) else "other"
