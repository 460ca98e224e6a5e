"""The plugin's Prometheus metrics, registered on the gateway's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from highway_triggers import RouteResult

OUTCOMES = ("delivered", "filtered", "duplicate", "rejected")
ERRORS = ("auth", "connection", "protocol", "error")


class EmailMetrics:
    """Messages by outcome, connection failures by kind, reconnects, checks, IDLE renewals,
    and how many mailboxes this replica is connected to."""

    def __init__(self, registry: CollectorRegistry, connected: Callable[[], int]) -> None:
        messages = Counter(
            "highway_email_messages",
            "Messages routed by this replica, by outcome: delivered (runs started or resumed), "
            "filtered (no trigger's filters take it), duplicate (its Message-ID was dispatched "
            "already), rejected (a wait's schema refused it).",
            ["outcome"],
            registry=registry,
        )
        errors = Counter(
            "highway_email_connection_errors",
            "Failed mailbox sessions, by kind: auth (login refused), connection (refused, "
            "reset, timed out), protocol (an IMAP error answer), error (anything else).",
            ["kind"],
            registry=registry,
        )
        self.reconnects = Counter(
            "highway_email_reconnects",
            "Mailbox sessions opened again after one failed.",
            registry=registry,
        )
        self.checks = Counter(
            "highway_email_checks",
            "Mailbox checks: a search for new messages (on IDLE news, a poll, or a renewal).",
            registry=registry,
        )
        self.idle_renewals = Counter(
            "highway_email_idle_renewals",
            "IDLE commands ended and issued again on schedule (HIGHWAY_EMAIL_IDLE_RENEW_SECONDS).",
            registry=registry,
        )
        Gauge(
            "highway_email_mailboxes_connected",
            "Mailboxes this replica watches and is connected to now.",
            registry=registry,
        ).set_function(connected)
        self._messages = {outcome: messages.labels(outcome) for outcome in OUTCOMES}
        self._errors = {kind: errors.labels(kind) for kind in ERRORS}

    def routed(self, result: RouteResult) -> None:
        outcome = (
            "duplicate" if result.duplicate else "delivered" if result.delivered_to else "filtered"
        )
        self._messages[outcome].inc()

    def rejected(self) -> None:
        self._messages["rejected"].inc()

    def failed(self, kind: str) -> None:
        self._errors[kind].inc()
