"""The plugin's Prometheus metrics, registered on the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ApprovalMetrics:
    """Approvals asked for, decisions, outcomes, refused links and emails."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "highway_approval_requests",
            "Approval requests by outcome: created, or existing (the same approval_key again).",
            ["outcome"],
            registry=registry,
        )
        self._decisions = Counter(
            "highway_approval_decisions",
            "Decisions recorded, by decision (approve, reject).",
            ["decision"],
            registry=registry,
        )
        self._outcomes = Counter(
            "highway_approval_outcomes",
            "Approvals closed and their runs resumed, by status (approved, rejected, expired).",
            ["status"],
            registry=registry,
        )
        self._refused = Counter(
            "highway_approval_refused",
            "Approval links refused, by error code (INVALID_LINK, LINK_USED …).",
            ["code"],
            registry=registry,
        )
        self._emails = Counter(
            "highway_approval_emails",
            "Approval emails by outcome: sent, or failed (retried later).",
            ["outcome"],
            registry=registry,
        )

    def requested(self, created: bool) -> None:
        self._requests.labels("created" if created else "existing").inc()

    def decided(self, decision: str) -> None:
        self._decisions.labels(decision).inc()

    def closed(self, status: str) -> None:
        self._outcomes.labels(status).inc()

    def refused(self, code: str) -> None:
        self._refused.labels(code).inc()

    def emailed(self, sent: bool) -> None:
        self._emails.labels("sent" if sent else "failed").inc()
