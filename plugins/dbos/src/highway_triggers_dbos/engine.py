"""The ``dbos`` engine adapter: DBOS's client on the application's system database.

A start enqueues a workflow (``workflow_id`` is ``queue:workflow_name``) with the
dispatch's idempotency key as the DBOS workflow id, so a second start with the same key
makes no second workflow; a resume is a message to the workflow, on the wait's event
name as topic (the workflow receives it with ``DBOS.recv(topic)``). DBOS has no state
for "waiting in recv", so the engine cannot list paused runs (``on_fire`` must be
``start``). DBOS's client is synchronous: every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from dbos import DBOSClient, EnqueueOptions
from dbos import error as dbos_error

from highway_triggers.plugin import EngineAdapter, EngineError, PausedRun
from highway_triggers_dbos.settings import DbosSettings


class DbosEngine(EngineAdapter):
    """Enqueues DBOS workflows and sends them the events their waits receive."""

    lists_paused_runs = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dbos = DbosSettings.load()
        if self.dbos.database_url is None:
            raise ValueError("the dbos engine needs HIGHWAY_DBOS_DATABASE_URL")
        self._client: DBOSClient | None = None
        self._made = threading.Lock()
        self._queues: set[str] = set()

    async def start(
        self,
        workflow_id: str,
        *,
        trigger_type: str,
        trigger_data: dict[str, Any],
        tenant_id: str | None,
        idempotency_key: str,
    ) -> str:
        queue, sep, name = workflow_id.partition(":")
        if not sep or not queue or not name:
            raise EngineError(
                f"workflow_id {workflow_id!r}: give queue:workflow_name", retryable=False
            )
        trigger = {
            "trigger_type": trigger_type,
            "trigger_data": trigger_data,
            "tenant_id": tenant_id,
        }
        options: EnqueueOptions = {
            "queue_name": queue,
            "workflow_name": name,
            "workflow_id": idempotency_key,
        }
        execution_id: str = await self._run(self._enqueue, options, trigger)
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
        await self._run(
            lambda: self._connected().send(
                execution_id, resume_data, event_name, idempotency_key=idempotency_key
            )
        )

    async def paused_runs(
        self, workflow_id: str, *, tenant_id: str | None, idempotency_key: str
    ) -> list[PausedRun]:
        raise EngineError("DBOS cannot list paused runs", retryable=False)

    def _enqueue(self, options: EnqueueOptions, trigger: dict[str, Any]) -> str:
        client = self._connected()
        queue = options["queue_name"]
        if queue not in self._queues:
            if client.retrieve_queue(queue) is None:
                raise EngineError(f"DBOS has no queue {queue!r}", retryable=False)
            self._queues.add(queue)
        return client.enqueue(options, trigger).get_workflow_id()

    def _connected(self) -> DBOSClient:
        with self._made:
            if self._client is None:
                assert self.dbos.database_url is not None
                self._client = DBOSClient(
                    system_database_url=self.dbos.database_url.get_secret_value(),
                    dbos_system_schema=self.dbos.system_schema,
                    application_name=self.dbos.application_name,
                    system_database_pool_size=self.dbos.pool_size,
                    lazy=True,
                    retry_connection_errors=False,
                )
            return self._client

    async def _run(self, call: Any, *args: Any) -> Any:
        """``call`` in a thread; DBOS's and the database's errors as :class:`EngineError`."""
        try:
            return await asyncio.to_thread(call, *args)
        except EngineError:
            raise
        except dbos_error.DBOSNonExistentWorkflowError as exc:
            raise EngineError(f"DBOS: {exc}", retryable=False) from exc
        except dbos_error.DBOSException as exc:
            raise EngineError(f"DBOS: {exc}") from exc
        except Exception as exc:  # the database's: unreachable, restarting …
            raise EngineError(f"DBOS: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.destroy)
