"""The EventRouter: phase 0 waits, phase 1 index, phase 2 matcher."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextvars import Token
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING, Any

from highway_triggers.core.correlation import EVENT_ID, REQUEST_ID
from highway_triggers.core.delivery_log import FILTERED, REFUSED, Miss, declined, explain_miss
from highway_triggers.core.errors import HTTPError
from highway_triggers.core.event import Event, RouteResult
from highway_triggers.core.index import TriggerIndex
from highway_triggers.core.ids import new_uuid
from highway_triggers.core.ingress import Claim, Intake, IngressWriter
from highway_triggers.core.trigger import BaseTrigger

if TYPE_CHECKING:
    from highway_triggers.core.metrics import Metrics
    from highway_triggers.core.tracing import Tracing

log = logging.getLogger(__name__)
EVENT_SUBTYPE = "EVENT"
"""The subtype of named tenant events (``emit``) and of the triggers they start."""


class EventRouter:
    """Turns an event into committed start and resume dispatches.

    Phases 1 and 2 run in memory; phase 0 (claiming waits), dedup and the outbox rows
    are written by the :class:`IngressWriter` in one transaction.
    """

    def __init__(
        self, index: TriggerIndex, writer: IngressWriter, metrics: Metrics, tracing: Tracing
    ) -> None:
        self._index = index
        self._writer = writer
        self._metrics = metrics
        self._tracing = tracing

    def match(self, event: Event, among: Iterable[BaseTrigger] | None = None) -> list[BaseTrigger]:
        """Phases 1 and 2: the active triggers this event starts (of ``among`` only, when
        given: the candidates whose own secret verified the request)."""
        if among is None:
            among = self._index.candidates(event.subtype, event.index_keys)
        return [
            trigger
            for trigger in among
            if trigger.subtype == event.subtype and self._admits(trigger, event)
        ]

    async def route(
        self,
        event: Event,
        *,
        claim: Claim | None = None,
        among: Iterable[BaseTrigger] | None = None,
        wait_owner: str | None = None,
        tokens_only: bool = False,
    ) -> RouteResult:
        """Resume the waits and start the triggers ``event`` matches; returns once committed.

        ``claim(conn) -> bool`` runs in the same transaction as the dedup row and the
        dispatches (advance a mailbox cursor, store a sync token): they commit together or
        not at all, and ``False`` refuses the event (``refused``; nothing is written).
        ``among`` limits phase 2 to these triggers (verify-before-route: the candidates of
        ``context.triggers.candidates`` whose secret verified the request); tenant checks and
        the matcher still apply. ``wait_owner`` makes phase 0 claim only the waits that
        plugin registered (see ``PluginWaits.register_in``). ``tokens_only``: the
        correlation keys are wait tokens and match nothing else (a hook, where knowing the
        token is the credential).
        """
        began = perf_counter()
        event_id = new_uuid()
        token = EVENT_ID.set(event_id)
        if among is not None:
            among = tuple(among)  # read again to explain a miss
        starts = self.match(event, among)
        intake = Intake(
            event_id=event_id,
            subtype=event.subtype,
            payload=event.payload,
            starts=starts,
            dedup_key=event.idempotency_key,
            dedup_window=event.dedup_window_seconds,
            tenant_id=event.tenant_id,
            correlation_keys=event.correlation_keys,
            tokens_only=tokens_only,
            event_name=event.event_name,
            wait_owner=wait_owner,
            claim=claim,
            explain=None if starts else partial(self._explain, event, among, tokens_only),
        )
        return await self._submit(intake, began, token)

    def refused(
        self,
        source: str,
        error: HTTPError,
        *,
        tenant_id: str | None = None,
        triggers: Sequence[BaseTrigger] = (),
        delivery_id: str | None = None,
    ) -> None:
        """Log a request refused before routing (``refused``, the error's code and message
        as the reason), naming the ``triggers`` it was for and the sender's ``delivery_id``."""
        reason = f"{error.code}: {error.message}"
        self._note(source, REFUSED, reason, tenant_id, declined(triggers), delivery_id)

    def missed(
        self,
        source: str,
        reason: str,
        *,
        tenant_id: str | None = None,
        delivery_id: str | None = None,
    ) -> None:
        """Log a request no trigger was found for before routing (``filtered``): a
        webhook path where nothing is deployed, a source's own ping."""
        self._note(source, FILTERED, reason, tenant_id, None, delivery_id)

    def _note(
        self,
        source: str,
        outcome: str,
        reason: str,
        tenant_id: str | None,
        targets: str | None,
        delivery_id: str | None,
    ) -> None:
        """Through the writer's bounded queue: a row it drops is counted."""
        noted = self._writer.note(
            source, outcome, reason, tenant_id=tenant_id, targets=targets, delivery_id=delivery_id
        )
        if not noted:
            self._metrics.unlogged()

    def _explain(
        self, event: Event, among: Iterable[BaseTrigger] | None, tokens_only: bool
    ) -> Miss:
        """Why nothing took ``event``: the candidates of phases 1 and 2, looked at again
        (and, when the request's signature narrowed them to ``among``, how many it left out)."""
        found = self._index.candidates(event.subtype, event.index_keys)
        if among is None:
            return explain_miss(event, found, tokens_only)
        verified = {id(trigger) for trigger in among}
        left_out = sum(1 for t in found if t.subtype == event.subtype and id(t) not in verified)
        return explain_miss(event, among, tokens_only, unverified=left_out)

    async def emit(
        self,
        event_name: str,
        payload: dict[str, Any],
        *,
        tenant_id: str,
        correlation_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> RouteResult:
        """A named event of a tenant (``user_created``, ``workflow_completed``,
        ``approval_pending`` …), injected over HTTP or raised inside the gateway.

        Resumes the tenant's waits on ``(event_name, correlation_key)`` and starts its
        ``EVENT`` triggers whose ``event_type`` is ``event_name`` and whose filter holds.
        ``idempotency_key`` is scoped to the tenant.
        """
        return await self.route(
            Event(
                subtype=EVENT_SUBTYPE,
                index_keys=(event_name,),
                payload=payload,
                tenant_id=tenant_id,
                idempotency_key=f"{tenant_id}:{idempotency_key}" if idempotency_key else None,
                correlation_keys=(correlation_key,) if correlation_key else (),
                event_name=event_name,
            )
        )

    async def fire(
        self,
        trigger: BaseTrigger,
        data: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        correlation_key: str | None = None,
        claim: Claim | None = None,
        dedup_window_seconds: float | None = None,
    ) -> RouteResult:
        """A trigger's own occurrence: resume the wait it correlates with, else start."""
        began = perf_counter()
        event_id = new_uuid()
        token = EVENT_ID.set(event_id)
        intake = Intake(
            event_id=event_id,
            subtype=trigger.subtype,
            payload=data,
            starts=[trigger],
            dedup_key=idempotency_key,
            dedup_window=dedup_window_seconds,
            tenant_id=trigger.tenant_id,
            correlation_keys=(correlation_key,) if correlation_key else (),
            exclusive=True,
            claim=claim,
        )
        return await self._submit(intake, began, token)

    async def _submit(self, intake: Intake, began: float, token: Token[str | None]) -> RouteResult:
        """Commit ``intake``'s rows (in a ``route`` span when tracing). Log lines name the
        event (``token``: its id set) until the request ends, or outside a request until
        it is committed."""
        try:
            if self._tracing.enabled:
                result = await self._tracing.route(intake, self._writer.submit, began)
            else:
                result = await self._writer.submit(intake)
            self._metrics.routed(intake.subtype, perf_counter() - began, result)
            log.debug(
                "routed %s: %d started, %d resumed", intake.subtype, result.started, result.resumed
            )
            return result
        finally:
            if REQUEST_ID.get() is None:
                EVENT_ID.reset(token)

    @staticmethod
    def _admits(trigger: BaseTrigger, event: Event) -> bool:
        if event.tenant_id is not None and trigger.tenant_id != event.tenant_id:
            return False
        try:
            return type(trigger).matches(trigger.config, event)
        except Exception:
            log.exception("matcher of %r raised; treated as no match", trigger)
            return False
