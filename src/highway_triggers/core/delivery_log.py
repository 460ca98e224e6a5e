"""The delivery log (``delivery_log``): one row per event that reached routing or was
refused at the door, and what became of it. Every statement on the table is here.

The ingress writer inserts the rows of routed events in its own transaction with plain
driver SQL (:class:`DeliveryLogSQL`); refusals wait in its bounded queue for the next
commit. Listing, reading one row and pruning use SQLAlchemy.

Outcomes: ``delivered`` (runs started and/or resumed: its dispatches are committed),
``duplicate`` (a redelivery; ``duplicate_of`` names the original event), ``filtered``
(nothing took it: no trigger for its key, or the triggers' filters said no), ``held``
(no wait took it yet: kept for a wait registered within the lookback), ``refused`` (at
the door: address, size, signature, token, rate; or a wait's payload schema).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from highway_triggers.core.ids import first_id_at
from highway_triggers.db.driver import DriverSQL
from highway_triggers.db.pruning import delete_oldest
from highway_triggers.db.tables import DELIVERY_LOG

if TYPE_CHECKING:
    from highway_triggers.core.dispatches import DispatchJob
    from highway_triggers.core.event import Event
    from highway_triggers.core.trigger import BaseTrigger
    from highway_triggers.db.database import Database

DELIVERED, DUPLICATE, FILTERED, HELD, REFUSED = (
    "delivered",
    "duplicate",
    "filtered",
    "held",
    "refused",
)
log = logging.getLogger(__name__)
OUTCOMES = (DELIVERED, DUPLICATE, FILTERED, HELD, REFUSED)
MAX_NAMED = 100
"""Triggers a miss or a refusal lists in ``targets``; the reason counts the rest."""
MAX_REASON = 500
L = DELIVERY_LOG
COLUMNS = (
    "event_id", "received_at", "source", "delivery_id", "tenant_id", "outcome", "started",
    "resumed", "duplicate_of", "reason", "targets",
)  # fmt: skip
Miss = tuple[str, str | None]
"""Why nothing took an event, and the ``targets`` JSON of the triggers it names."""


class DeliveryLogSQL(DriverSQL):
    """The insert of log rows on the hot path; rows are tuples in :data:`COLUMNS` order."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        marks = ", ".join([self.mark] * len(COLUMNS))
        self.insert = f"INSERT INTO delivery_log ({', '.join(COLUMNS)}) VALUES ({marks})"

    def delivered(self, jobs: Sequence[DispatchJob]) -> str:
        """The ``targets`` of a delivered event: the triggers started, the waits resumed."""
        return self.json(
            [
                {"trigger_id": job.trigger_id, "workflow_id": job.workflow_id, "matched": True}
                if job.kind == "start"
                else {
                    "wait_id": job.wait_id,
                    "workflow_id": job.workflow_id,
                    "workflow_run_id": job.execution_id,
                    "matched": True,
                }
                for job in jobs
            ]
        )


def declined(triggers: Sequence[BaseTrigger], reasons: Sequence[str | None] = ()) -> str | None:
    """The ``targets`` naming triggers that did not take an event (at most
    :data:`MAX_NAMED`), each with its matcher's ``reason`` when it gave one."""
    if not triggers:
        return None
    targets: list[dict[str, Any]] = []
    for i, t in enumerate(triggers[:MAX_NAMED]):
        target = {"trigger_id": t.id, "workflow_id": t.workflow_id, "matched": False}
        if i < len(reasons) and reasons[i] is not None:
            target["reason"] = reasons[i]
        targets.append(target)
    return DriverSQL.json(targets)


def reason_text(text: str) -> str:
    """``text`` as a stored reason: at most :data:`MAX_REASON` characters, no NUL."""
    return text.replace("\x00", "\\0")[:MAX_REASON]


def explain_miss(
    event: Event, pool: Iterable[BaseTrigger], tokens_only: bool, unverified: int = 0
) -> Miss:
    """Why nothing took ``event``: no wait for its key, and no trigger for its index keys
    or the filters of those of ``pool`` (the phase-1 candidates) said no, or ``unverified``
    triggers for its index keys were left out as the request was not signed for them."""
    parts = []
    if tokens_only:
        parts.append("no wait for its token")  # the token is a credential: not shown
    elif event.correlation_keys:
        keys = ", ".join(repr(k) for k in event.correlation_keys)
        parts.append(f"no wait for correlation key {keys}")
    considered = [
        t for t in pool if t.subtype == event.subtype and event.tenant_id in (None, t.tenant_id)
    ]
    reasons = [_mismatch(t, event) for t in considered[:MAX_NAMED]]
    if considered:
        named = ", ".join(
            f"{t.id} (workflow {t.workflow_id}{'' if why is None else ': ' + why})"
            for t, why in zip(considered[:3], reasons, strict=False)
        )
        more = f" and {len(considered) - 3} more" if len(considered) > 3 else ""
        if len(considered) == 1:
            parts.append(f"filter of trigger {named} said no")
        else:
            parts.append(f"filters of {len(considered)} triggers said no: {named}{more}")
    keys = ", ".join(repr(k) for k in event.index_keys)
    if unverified:
        parts.append(
            f"{unverified} {event.subtype} trigger(s) for {keys} not reached: "
            "the request was not signed with their secret"
        )
    elif not considered and event.index_keys:
        parts.append(f"no {event.subtype} trigger for {keys}")
    return reason_text("; ".join(parts) or "nothing took it"), declined(considered, reasons)


def _mismatch(trigger: BaseTrigger, event: Event) -> str | None:
    """The trigger type's own account of why its matcher said no (``BaseTrigger.mismatch``)."""
    try:
        return type(trigger).mismatch(trigger.config, event)
    except Exception:  # an explanation must never fail the event's commit
        log.exception("mismatch of %r raised", trigger)
        return None


def list_deliveries(
    db: Database,
    *,
    limit: int,
    before: str | None = None,
    source: str | None = None,
    outcome: str | None = None,
    tenant_id: str | None = None,
    workflow_id: str | None = None,
    trigger_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Newest first, event ids below ``before`` (the next page) if given.

    ``since`` (inclusive) and ``until`` (exclusive) become event-id bounds, as ids grow with
    time: the primary key finds them. ``workflow_id`` and ``trigger_id`` match inside
    ``targets`` (a ``LIKE`` on its JSON text): the rows are read newest first until a page
    is found, so narrow a search of a large log with ``since``/``until``.
    """
    query = select(L).order_by(L.c.event_id.desc()).limit(limit)
    if before is not None:
        query = query.where(L.c.event_id < before)
    if since is not None:
        query = query.where(L.c.event_id >= first_id_at(since))
    if until is not None:
        query = query.where(L.c.event_id < first_id_at(until))
    for column, value in ((L.c.source, source), (L.c.outcome, outcome), (L.c.tenant_id, tenant_id)):
        if value is not None:
            query = query.where(column == value)
    for name, value in (("workflow_id", workflow_id), ("trigger_id", trigger_id)):
        if value is not None:  # identifiers: their JSON text is the value in quotes
            query = query.where(L.c.targets.contains(f'"{name}":"{value}"', autoescape=True))
    with db.engine.connect() as conn:
        return [_view(row) for row in conn.execute(query).mappings()]


def get_delivery(db: Database, event_id: str) -> dict[str, Any] | None:
    with db.engine.connect() as conn:
        row = conn.execute(select(L).where(L.c.event_id == event_id)).mappings().first()
    return None if row is None else _view(row)


def delete_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows received before ``cutoff`` (oldest first, through the
    primary key); how many went."""
    return delete_oldest(
        conn, L.c.event_id, L.c.event_id < first_id_at(cutoff), order_by=L.c.event_id, limit=limit
    )


def _view(row: Any) -> dict[str, Any]:
    view = dict(row)
    view["received_at"] = row["received_at"].isoformat()
    view["targets"] = json.loads(row["targets"]) if row["targets"] else []
    return view
