"""The embedded default engine: records every start and resume, needs no server."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from highway_triggers.core.engine import EngineAdapter, PausedRun
from highway_triggers.core.ids import new_id
from highway_triggers.core.plugins import hookimpl


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One call the recorder received."""

    kind: str
    idempotency_key: str
    workflow_id: str | None
    execution_id: str
    data: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


RECENT_CALLS = 1_000
"""Calls the recorder keeps in memory (the newest); the dispatch rows are the full record.
Each holds its trigger data as parsed objects, which the garbage collector walks: 10,000
GitHub pushes (~200 objects each) cost ~13 % of the CPU of a request in bench/github.py."""
REMEMBERED_KEYS = 100_000
"""Idempotency keys the recorder remembers (the newest) to answer a redelivery alike."""


class RecorderEngine(EngineAdapter):
    """Records the newest calls in memory; the dispatch rows keep the durable record.

    Starts are idempotent by key, as a real engine's would be, so a redelivery
    returns the first execution id. Memory stays bounded: a long-running gateway
    keeps the last :data:`RECENT_CALLS` calls and :data:`REMEMBERED_KEYS` keys.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: deque[RecordedCall] = deque(maxlen=RECENT_CALLS)
        self._by_key: OrderedDict[str, str] = OrderedDict()

    async def start(
        self,
        workflow_id: str,
        *,
        trigger_type: str,
        trigger_data: dict[str, Any],
        tenant_id: str | None,
        idempotency_key: str,
    ) -> str:
        if idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        execution_id = self._remember(idempotency_key, f"rec-{new_id()}")
        data = {"trigger_type": trigger_type, "trigger_data": trigger_data, "tenant_id": tenant_id}
        self.calls.append(RecordedCall("start", idempotency_key, workflow_id, execution_id, data))
        return execution_id

    async def resume(
        self,
        execution_id: str,
        *,
        resume_data: dict[str, Any],
        interaction_id: str,
        idempotency_key: str,
        event_name: str | None = None,
        correlation_key: str | None = None,
    ) -> None:
        if idempotency_key in self._by_key:
            return
        self._remember(idempotency_key, execution_id)
        data = {
            "resume_data": resume_data,
            "interaction_id": interaction_id,
            "event_name": event_name,
            "correlation_key": correlation_key,
        }
        self.calls.append(RecordedCall("resume", idempotency_key, None, execution_id, data))

    def _remember(self, idempotency_key: str, execution_id: str) -> str:
        if len(self._by_key) >= REMEMBERED_KEYS:
            # the oldest, in O(1): a plain dict would scan past every key deleted before it
            self._by_key.popitem(last=False)
        self._by_key[idempotency_key] = execution_id
        return execution_id

    async def paused_runs(
        self, workflow_id: str, *, tenant_id: str | None, idempotency_key: str
    ) -> list[PausedRun]:
        return []


@hookimpl
def highway_engines() -> dict[str, type]:
    return {"recorder": RecorderEngine}
