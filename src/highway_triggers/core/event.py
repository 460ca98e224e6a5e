"""What a source hands to the router, and what the router answers."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One occurrence observed by a route or a watcher.

    ``index_keys`` select triggers in phase 1, ``correlation_keys`` select waiting runs
    in phase 0, and ``idempotency_key`` (unique per subtype) makes redelivery harmless.
    ``event_name`` narrows phase 0 to waits registered for that event name (a tenant's
    named events; sources whose correlation keys are namespaced leave it ``None``).
    """

    subtype: str
    index_keys: tuple[str, ...]
    payload: dict[str, Any]
    tenant_id: str | None = None
    idempotency_key: str | None = None
    correlation_keys: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    dedup_window_seconds: float | None = None
    """How long ``idempotency_key`` marks a redelivery; ``None``: the retention period
    (``HIGHWAY_DELIVERY_RETENTION_HOURS``, which also bounds it)."""
    event_name: str | None = None


@dataclass(frozen=True, slots=True)
class RouteResult:
    """The outcome of routing one event; its dispatches are committed when it exists."""

    event_id: str
    dispatch_ids: tuple[str, ...] = ()
    started: int = 0
    resumed: int = 0
    duplicate: bool = False
    held: bool = False
    """No wait took the event, and it is kept for the lookback window (see early_events)."""
    refused: bool = False
    """The fire's ``claim`` declined it inside the transaction: nothing was written."""

    @property
    def delivered_to(self) -> int:
        """Runs started plus runs resumed."""
        return self.started + self.resumed
