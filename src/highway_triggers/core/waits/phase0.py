"""Phase 0 of routing: the open waits an event's correlation keys (or tokens) name are
claimed inside the ingress transaction, and become resume dispatches.

A single-use wait is consumed with ``UPDATE … WHERE consumed_at IS NULL``, so two
replicas never both resume it; a multi-use wait takes every event, one resume each.
Runs on the driver's cursor, as the rest of the ingress writer does.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, NamedTuple

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from highway_triggers.core.dispatches import DispatchJob, resume_job
from highway_triggers.core.errors import HTTPError
from highway_triggers.db.driver import DriverSQL


class OpenWait(NamedTuple):
    """A wait as phase 0 reads it."""

    id: str
    tenant_id: str | None
    workflow_id: str | None
    workflow_run_id: str
    multi_use: bool
    payload_schema: Any
    created_at: Any
    event_name: str
    correlation_key: str | None


class WaitClaims(DriverSQL):
    """Finds and claims the waits of one event (statements cached per shape)."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        self.consume = (
            f"UPDATE waits SET consumed_at = {self.mark}, closed_reason = 'consumed' "
            f"WHERE id = {self.mark} AND consumed_at IS NULL"
        )

    @lru_cache(maxsize=64)  # noqa: B019 - one instance per writer, a handful of shapes
    def open_waits(
        self, column: str, keys: int, by_tenant: bool, by_event: bool, by_owner: bool
    ) -> str:
        """The open, unexpired waits whose ``column`` (correlation_key or token) is one of
        ``keys`` values; parameters: now, [tenant_id], [event_name], [owner], keys."""
        mark = self.mark
        where = [
            "consumed_at IS NULL",
            f"(expires_at IS NULL OR expires_at > {mark})",
            *([f"tenant_id = {mark}"] if by_tenant else []),
            *([f"event_name = {mark}"] if by_event else []),
            f"owner = {mark}" if by_owner else "owner IS NULL",
            f"{column} IN ({', '.join([mark] * keys)})",
        ]
        return (
            "SELECT id, tenant_id, workflow_id, workflow_run_id, multi_use, payload_schema,"
            f" created_at, event_name, correlation_key FROM waits WHERE {' AND '.join(where)}"
        )

    def claim(
        self,
        cursor: Any,
        stamp: Any,
        *,
        keys: tuple[str, ...],
        tenant_id: str | None,
        event_name: str | None,
        owner: str | None,
        tokens_only: bool,
        trigger_type: str,
        event_id: str,
        payload: dict[str, Any],
    ) -> list[DispatchJob]:
        """Claim the waits ``keys`` name: their resume jobs, oldest wait first.

        ``tokens_only``: the keys are tokens (a hook), never correlation keys. Waits of a
        plugin (``owner``) are reachable only through that plugin's own routes. A payload
        that fails a wait's schema raises 400 before any wait is claimed.
        """
        columns = ("token",) if tokens_only else ("correlation_key", "token")
        by_tenant, by_event, by_owner = tenant_id is not None, event_name is not None, bool(owner)
        params = (
            stamp,
            *((tenant_id,) if by_tenant else ()),
            *((event_name,) if by_event else ()),
            *((owner,) if by_owner else ()),
            *keys,
        )
        found: dict[str, OpenWait] = {}
        for column in columns:  # one indexed lookup per column: SQLite scans for an OR of them
            statement = self.open_waits(column, len(keys), by_tenant, by_event, by_owner)
            for row in cursor.execute(statement, params).fetchall():
                found.setdefault(row[0], OpenWait(*row))
        waits = sorted(found.values(), key=lambda wait: wait.created_at)
        for wait in waits:  # every schema first: a rejected payload claims no wait at all
            if (schema := self.from_json(wait.payload_schema)) is not None:
                check_payload(wait.id, schema, payload)
        jobs = []
        for wait in waits:
            if wait.multi_use:
                key = f"resume:{wait.id}:{event_id}"
            else:
                if cursor.execute(self.consume, (stamp, wait.id)).rowcount != 1:
                    continue
                key = f"resume:{wait.id}"
            jobs.append(
                resume_job(
                    wait,
                    trigger_type=trigger_type,
                    event_id=event_id,
                    payload=payload,
                    idempotency_key=key,
                )
            )
        return jobs


def check_payload(wait_id: str, schema: dict[str, Any], payload: dict[str, Any]) -> None:
    """400 ``INVALID_PAYLOAD`` naming the first violation when ``payload`` fails ``schema``."""
    error = best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(payload))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise HTTPError(
            400,
            "INVALID_PAYLOAD",
            f"the payload does not match the schema of wait {wait_id}: {where}: {error.message}",
            extra={"wait_id": wait_id},
        )


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    return validator_for(schema)(schema)
