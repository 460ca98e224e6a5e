"""Requests held open until their run answers (``response: wait``), on any replica.

The replica holding a request writes a row for it before routing; the run's answer
(``POST /api/v1/webhook-responses/{request_id}``) may reach any replica, which stores it
in that row and announces it (``NOTIFY`` on PostgreSQL). The holder learns of it from
the notification, or from its own poll of the rows it holds: a lost notification costs
one poll interval, and SQLite needs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from highway_triggers.plugin import Database, GatewayContext, HTTPError, announce, utcnow
from highway_triggers_webhook.options import Answer
from highway_triggers_webhook.tables import HELD

log = logging.getLogger(__name__)
CHANNEL = "highway_webhook_answers"
KEEP_ANSWERED = timedelta(hours=1)
REQUEST_ID = {
    "type": "string",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
}
"""A held request's id (a UUID, as its run received it)."""
_REQUEST_ID = re.compile(REQUEST_ID["pattern"])


class HeldRequests:
    """Holds requests on this replica and records answers for any replica's requests."""

    def __init__(self, context: GatewayContext) -> None:
        self._context = context
        self._db: Database = context.database
        self._poll_seconds = context.settings.reconcile_interval_seconds
        self._held: dict[str, tuple[asyncio.Future[Answer], float]] = {}
        self._kick = asyncio.Event()

    def start(self) -> None:
        """Watch for answers as one of the gateway's tasks (stopped with it)."""
        self._context.tasks.spawn("highway-webhook-answers", self._serve)

    async def hold(self, request_id: str, timeout: float) -> None:
        """Start holding ``request_id`` for ``timeout`` seconds; :meth:`release` it after.

        The row's expiry and the hold's deadline are taken at the same moment, before the
        row is written: an expiry taken after the write (which may wait its turn) would
        outlast the deadline, and an answer arriving after the 202 but before it would be
        recorded for a request that no longer waits for one."""
        expires_at = utcnow() + timedelta(seconds=timeout)
        self._held[request_id] = (
            asyncio.get_running_loop().create_future(),
            time.monotonic() + timeout,
        )
        await self._db.write(self._insert, request_id, expires_at)

    async def answer_of(self, request_id: str) -> Answer | None:
        """The run's answer once it comes, or ``None`` when the hold times out."""
        future, deadline = self._held[request_id]
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(future), deadline - time.monotonic())
        answered = await self._db.call(self._answers, [request_id])  # one last look
        return answered.get(request_id)

    def release(self, request_id: str) -> None:
        self._held.pop(request_id, None)

    async def answer(self, request_id: str, answer: Answer) -> None:
        """Record a run's answer; 404 unknown, 409 answered already, 410 no longer held."""
        if _REQUEST_ID.fullmatch(request_id) is None:  # no request was held under that id
            raise _not_found(request_id)
        await self._db.write(self._record, request_id, answer)
        self._kick.set()

    async def _serve(self) -> None:
        """Watch, and listen for announced answers (on SQLite ``listen`` returns at once)."""
        kick = self._kick.set
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch())
            group.create_task(self._context.listen(CHANNEL, lambda _: kick()))

    async def _watch(self) -> None:
        """Resolve held requests whose answer was recorded: on a kick, or every poll."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._poll_seconds)
            self._kick.clear()
            if not self._held:
                continue
            try:
                answered = await self._db.call(self._answers, list(self._held))
            except Exception:
                log.exception("reading answers to held webhook requests failed; will retry")
                continue
            for request_id, answer in answered.items():
                held = self._held.get(request_id)
                if held is not None and not held[0].done():
                    held[0].set_result(answer)

    def _insert(self, request_id: str, expires_at: datetime) -> None:
        with self._db.engine.begin() as conn:
            conn.execute(delete(HELD).where(HELD.c.expires_at < utcnow() - KEEP_ANSWERED))
            conn.execute(insert(HELD).values(request_id=request_id, expires_at=expires_at))

    def _answers(self, request_ids: list[str]) -> dict[str, Answer]:
        query = select(HELD.c.request_id, HELD.c.answer).where(
            HELD.c.request_id.in_(request_ids), HELD.c.answered_at.is_not(None)
        )
        with self._db.engine.connect() as conn:
            return {
                row.request_id: Answer.model_validate(row.answer) for row in conn.execute(query)
            }

    def _record(self, request_id: str, answer: Answer) -> None:
        now = utcnow()
        with self._db.engine.begin() as conn:
            recorded = conn.execute(
                update(HELD)
                .where(
                    HELD.c.request_id == request_id,
                    HELD.c.answered_at.is_(None),
                    HELD.c.expires_at > now,
                )
                .values(answer=answer.model_dump(mode="json"), answered_at=now)
            )
            if recorded.rowcount == 1:
                announce(conn, request_id, CHANNEL)
                return
            row: Any = conn.execute(
                select(HELD.c.answered_at).where(HELD.c.request_id == request_id)
            ).first()
        if row is None:
            raise _not_found(request_id)
        if row.answered_at is not None:
            raise HTTPError(
                409, "ALREADY_ANSWERED", f"webhook request {request_id!r} was answered already"
            )
        raise HTTPError(
            410, "REQUEST_NOT_HELD", f"webhook request {request_id!r} was answered 202 on timeout"
        )


def _not_found(request_id: str) -> HTTPError:
    return HTTPError(404, "REQUEST_NOT_FOUND", f"no webhook request {request_id!r} is held")
