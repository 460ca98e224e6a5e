"""A plugin's archive of the requests it received: one row per delivery id, stored in the
delivery's ingress transaction, shown to admins, pruned after a retention period."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Table, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.http import admin
from highway_triggers.core.ingress import Claim
from highway_triggers.core.openapi import operation
from highway_triggers.core.validation import DELIVERY_ID_SCHEMA, check_delivery_id
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.driver import DriverSQL
from highway_triggers.db.pruning import delete_oldest


class DeliveryArchive:
    """The deliveries a plugin keeps for inspection, in its own ``table``.

    The table has a string primary key ``delivery_id`` (the sender's delivery id), a
    ``processed_at`` column (``UtcDateTime``, indexed) that the archive sets, and the
    plugin's own columns (the body as sent, what it routed on). ``noun`` names a delivery
    in the 404 of :meth:`route` ("delivery", "Slack request" …).
    """

    prune_batch = 1_000
    """Rows :meth:`prune` deletes per call (per transaction)."""

    def __init__(self, database: Database, table: Table, *, noun: str = "delivery") -> None:
        self._database = database
        self._table = table
        self._noun = noun
        self._sql = DriverSQL(database.dialect)
        self._columns = [column.name for column in table.columns]
        marks = ", ".join([self._sql.mark] * len(self._columns))
        self._insert = (
            f"INSERT INTO {table.name} ({', '.join(self._columns)}) VALUES ({marks})"
            " ON CONFLICT DO NOTHING"
        )

    def claim(self, row: Mapping[str, Any]) -> Claim:
        """``row`` (a value for every column but ``processed_at``, which is now) as a claim
        of the delivery's ingress transaction: stored with the runs it starts or not at
        all; a redelivery keeps the first row."""
        now = self._sql.timestamp(utcnow())
        values = tuple(now if name == "processed_at" else row[name] for name in self._columns)
        insert = self._insert

        def store(conn: Connection) -> bool:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(insert, values)
            finally:
                cursor.close()
            return True

        return store

    async def add(self, row: Mapping[str, Any]) -> None:
        """Store a delivery that is not routed (a source's ping)."""
        await self._database.write(self._add, self.claim(row))

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        """A stored delivery, ``processed_at`` in ISO 8601."""
        return await self._database.call(self._get, delivery_id)

    async def prune(self, before: datetime) -> int:
        """Delete up to :attr:`prune_batch` deliveries processed before ``before``; how many
        went (for ``context.prune_every_interval``)."""
        return await self._database.write(self._prune, before)

    def route(self, path: str, *, name: str, response: type[BaseModel], doc: str) -> Route:
        """``GET path`` for admins: the stored delivery ``{delivery_id}`` of ``path`` as
        ``response`` shows it; 404 ``DELIVERY_NOT_FOUND``. ``name`` makes the OpenAPI
        operation id, ``doc`` its description."""

        async def stored(request: Request) -> Response:
            delivery_id = str(request.path_params["delivery_id"])
            check_delivery_id(delivery_id, "delivery_id")
            found = await self.get(delivery_id)
            if found is None:
                raise HTTPError(
                    404, "DELIVERY_NOT_FOUND", f"no stored {self._noun} {delivery_id!r}"
                )
            return JSONResponse(found)

        stored.__doc__ = doc
        declared = operation(
            path={"delivery_id": DELIVERY_ID_SCHEMA}, responses={200: response}, errors=(400, 404)
        )(stored)
        return Route(path, admin(declared), methods=["GET"], name=name)

    def _add(self, store: Claim) -> None:
        with self._database.engine.begin() as conn:
            store(conn)

    def _get(self, delivery_id: str) -> dict[str, Any] | None:
        with self._database.engine.connect() as conn:
            query = select(self._table).where(self._table.c.delivery_id == delivery_id)
            found = conn.execute(query).mappings().first()
        if found is None:
            return None
        return {**found, "processed_at": found["processed_at"].isoformat()}

    def _prune(self, before: datetime) -> int:
        table = self._table
        with self._database.engine.begin() as conn:
            return delete_oldest(
                conn,
                table.c.delivery_id,
                table.c.processed_at < before,
                order_by=table.c.processed_at,
                limit=self.prune_batch,
            )
