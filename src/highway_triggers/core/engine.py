"""What an engine adapter is: ``start``, ``resume`` and ``paused_runs``.

Adapters are provided by plugins through ``highway_engines()`` and built with the
gateway's settings; only the dispatcher calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from highway_triggers.settings import Settings


class EngineError(Exception):
    """A call the engine did not accept; ``retryable`` decides between retry and dead."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class PausedRun:
    """A run of a workflow that is suspended and can be resumed."""

    execution_id: str
    status: str
    started_at: datetime | None


class EngineAdapter:
    """Base class of engine adapters; every call carries the dispatch's idempotency key."""

    lists_paused_runs: ClassVar[bool] = True
    """``False``: the engine cannot tell which runs are suspended, so a deploy of a trigger
    with ``on_fire: resume_or_start`` or ``resume_only`` is refused (a 422 naming the field)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def start(
        self,
        workflow_id: str,
        *,
        trigger_type: str,
        trigger_data: dict[str, Any],
        tenant_id: str | None,
        idempotency_key: str,
    ) -> str:
        """Start a run; returns its execution id."""
        raise NotImplementedError

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
        """Resume a suspended run. ``event_name`` and ``correlation_key`` are the resumed
        wait's (``None`` when a trigger resumed a paused run, and for a wait without a
        correlation key): what an engine needs to address the run's wait point."""
        raise NotImplementedError

    async def paused_runs(
        self, workflow_id: str, *, tenant_id: str | None, idempotency_key: str
    ) -> list[PausedRun]:
        """The workflow's runs that are suspended, in any order (asked for one dispatch)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""
