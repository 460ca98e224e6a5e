"""Workflow templates: a workflow definition, per tenant by name, with a JSON Schema input.

Running a template starts its workflow through the dispatch outbox like any trigger
does: :class:`TemplateTrigger` is a trigger built in memory from the template's row
at run time and fired through the router (``EventRouter.fire``), so the start is a
committed dispatch with retries and an idempotency key, and nothing is added to the
trigger index (no hidden rows to keep in step with the template, nothing for
replicas to sync before a new template can run). The engine receives
``trigger_type: "TEMPLATE"`` and the validated input as ``trigger_data``; the
dispatch's ``trigger_id`` is the template's id.

The service is synchronous: call it from a thread or through ``Database.write``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from jsonschema.validators import validator_for
from pydantic import StringConstraints, field_validator
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.trigger import BaseTrigger, TriggerConfig
from highway_triggers.core.validation import (
    IDENTIFIER_RULE,
    Identifier,
    JsonSchema,
    RequestBody,
    is_identifier,
)
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import TEMPLATES

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FIELDS = ("tenant_id", "name", "workflow_definition", "input_schema", "category", "description")


class TemplateSpec(RequestBody):
    """A template's fields as the API takes them (create, or a merged update)."""

    tenant_id: Identifier
    name: Identifier
    workflow_definition: dict[str, Any]
    input_schema: JsonSchema | None = None
    category: Text | None = None
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None

    @field_validator("workflow_definition")
    @classmethod
    def _workflow_id(cls, definition: dict[str, Any]) -> dict[str, Any]:
        given = definition.get("id")
        if given is not None and not is_identifier(given):
            raise ValueError(f"id: the workflow it starts, {IDENTIFIER_RULE}")
        return definition


def workflow_id_of(template: dict[str, Any]) -> str:
    """The workflow a template starts: ``workflow_definition["id"]``, else the template's name."""
    given = template["workflow_definition"].get("id")
    return given if isinstance(given, str) and given else str(template["name"])


def input_errors(schema: dict[str, Any] | None, data: Any) -> list[dict[str, str]]:
    """Every violation of ``schema`` by ``data``, as ``{"path", "message"}``, in path order."""
    if not schema:
        return []
    validator = validator_for(schema)(schema)
    found = sorted(
        validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [{"path": e.json_path, "message": e.message} for e in found]


class TemplateTrigger(BaseTrigger):
    """A template's run, fired once; built in memory, never stored in the trigger index."""

    subtype = "TEMPLATE"
    Config = TriggerConfig


class TemplateService:
    """Creates, reads, updates and deletes templates; every lookup is scoped by tenant."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """The new template; 409 ``TEMPLATE_EXISTS`` when its tenant has one of that name."""
        spec = TemplateSpec.parse(body)
        now = utcnow()
        values = {"id": uuid.uuid4().hex, **spec.model_dump(), "created_at": now, "updated_at": now}
        try:
            with self._db.engine.begin() as conn:
                conn.execute(insert(TEMPLATES).values(**values))
        except IntegrityError:
            raise _exists(spec) from None
        return view(values)

    def get(self, name: str, tenant_id: str | None) -> dict[str, Any]:
        """The template ``name`` of ``tenant_id`` (or of the only tenant with one); else 404."""
        query = select(TEMPLATES).where(TEMPLATES.c.name == name)
        if tenant_id is not None:
            query = query.where(TEMPLATES.c.tenant_id == tenant_id)
        with self._db.engine.connect() as conn:
            rows = conn.execute(query.limit(2)).mappings().all()
        if not rows:
            where = f" of tenant {tenant_id!r}" if tenant_id is not None else ""
            raise HTTPError(404, "TEMPLATE_NOT_FOUND", f"no template {name!r}{where}")
        if len(rows) > 1:
            raise HTTPError(
                400, "TENANT_REQUIRED", f"several tenants have a template {name!r}: give tenant_id"
            )
        return view(rows[0])

    def list(
        self, tenant_id: str | None = None, category: str | None = None
    ) -> list[dict[str, Any]]:
        query = select(TEMPLATES).order_by(TEMPLATES.c.tenant_id, TEMPLATES.c.name)
        if tenant_id is not None:
            query = query.where(TEMPLATES.c.tenant_id == tenant_id)
        if category is not None:
            query = query.where(TEMPLATES.c.category == category)
        with self._db.engine.connect() as conn:
            return [view(row) for row in conn.execute(query).mappings()]

    def update(self, name: str, tenant_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the fields ``body`` gives (a template may be renamed, not moved to a tenant)."""
        current = self.get(name, tenant_id)
        if body.get("tenant_id", current["tenant_id"]) != current["tenant_id"]:
            raise ConfigError(
                [{"field": "tenant_id", "message": "a template cannot move to another tenant"}]
            )
        merged = {field: current[field] for field in FIELDS} | body
        spec = TemplateSpec.parse(merged)
        try:
            with self._db.engine.begin() as conn:
                conn.execute(
                    update(TEMPLATES)
                    .where(TEMPLATES.c.id == current["template_id"])
                    .values(**spec.model_dump(), updated_at=utcnow())
                )
        except IntegrityError:
            raise _exists(spec) from None
        return self.get(spec.name, spec.tenant_id)

    def delete(self, name: str, tenant_id: str | None) -> None:
        current = self.get(name, tenant_id)
        with self._db.engine.begin() as conn:
            conn.execute(delete(TEMPLATES).where(TEMPLATES.c.id == current["template_id"]))


def view(row: Any) -> dict[str, Any]:
    """A template as the API shows it."""
    template = {
        "template_id": row["id"],
        "tenant_id": row["tenant_id"],
        "name": row["name"],
        "workflow_definition": row["workflow_definition"],
        "input_schema": row["input_schema"],
        "category": row["category"],
        "description": row["description"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
    template["workflow_id"] = workflow_id_of(template)
    return template


def _exists(spec: TemplateSpec) -> HTTPError:
    return HTTPError(
        409, "TEMPLATE_EXISTS", f"tenant {spec.tenant_id!r} already has a template {spec.name!r}"
    )
