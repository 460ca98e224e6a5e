"""The deployment service: deploy, redeploy (atomic), undeploy, stand-alone triggers.

Every change writes ``trigger_index`` rows with a new revision and announces it, so
that every replica's TriggerManager applies it (see ``core/changes.py``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping

from highway_triggers.core.changes import bump_revision
from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.secrets import SecretCipher
from highway_triggers.core.templates import TemplateService, workflow_id_of
from highway_triggers.core.trigger import BaseTrigger
from highway_triggers.core.validation import IDENTIFIER_RULE, is_identifier
from highway_triggers.db.columns import utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.tables import (
    DEPLOYED,
    DEPLOYING,
    DEPLOYMENTS,
    HISTORY,
    TRIGGERS,
    UNDEPLOYED,
)
from highway_triggers.db.tables import DEPLOYMENT_FAILED as FAILED

if TYPE_CHECKING:
    from highway_triggers.core.context import GatewayContext
    from highway_triggers.core.manager import TriggerManager

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """What a trigger starts: a workflow, or a template's workflow (resolved when saved)."""

    workflow_id: str
    template: str | None = None


@dataclass(frozen=True, slots=True)
class ValidTrigger:
    """A trigger spec whose config passed its type's ``Config``."""

    subtype: str
    config: BaseModel
    index_key: str | None

    def row(
        self,
        target: Target,
        tenant_id: str | None,
        origin: str,
        revision: int,
    ) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": uuid.uuid4().hex,
            "workflow_id": target.workflow_id,
            "template": target.template,
            "tenant_id": tenant_id,
            "trigger_subtype": self.subtype,
            "trigger_config": self.config.model_dump(mode="json"),
            "index_key": self.index_key,
            "deployment_status": DEPLOYED,
            "origin": origin,
            "revision": revision,
            "created_at": now,
            "updated_at": now,
        }


def _trigger_entries(body: Any) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """Each trigger of either body form: where errors name it (``triggers[i]``, as
    :func:`trigger_specs` counts), the object, its type and config keys."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("triggers"), list):
        for i, item in enumerate(body["triggers"]):
            if isinstance(item, dict):
                yield f"triggers[{i}]", item, "type", "config"
    elif isinstance(body.get("nodes"), list):
        nodes = [n for n in body["nodes"] if isinstance(n, dict) and n.get("type") == "TRIGGER"]
        for i, node in enumerate(nodes):
            yield f"triggers[{i}]", node, "subtype", "configurations"


def trigger_specs(body: Any) -> list[tuple[Any, Any]]:
    """``(type, config)`` pairs from either body form of the deploy route."""
    if not isinstance(body, dict):
        raise ConfigError([{"field": "body", "message": "must be a JSON object"}])
    if "triggers" in body:
        items = body["triggers"]
        if not isinstance(items, list):
            raise ConfigError([{"field": "triggers", "message": "must be a list"}])
        return [
            (i.get("type"), i.get("config", {})) if isinstance(i, dict) else (None, None)
            for i in items
        ]
    if "nodes" in body:
        nodes = body["nodes"]
        if not isinstance(nodes, list):
            raise ConfigError([{"field": "nodes", "message": "must be a list"}])
        return [
            (n.get("subtype"), n.get("configurations", {}))
            for n in nodes
            if isinstance(n, dict) and n.get("type") == "TRIGGER"
        ]
    raise ConfigError(
        [{"field": "triggers", "message": "give 'triggers' or a workflow spec with 'nodes'"}]
    )


def validate_trigger(
    types: dict[str, type[BaseTrigger]],
    subtype: Any,
    config: Any,
    where: str,
    *,
    paused_runs: bool = True,
) -> ValidTrigger:
    """Validate one trigger; a :class:`ConfigError` names ``where`` and the field.
    ``paused_runs=False``: the engine cannot list paused runs, so an ``on_fire`` that
    resumes them is refused."""
    cls = types.get(subtype) if isinstance(subtype, str) else None
    if cls is None:
        known = ", ".join(sorted(types))
        raise ConfigError(
            [
                {
                    "trigger": where,
                    "field": f"{where}.type",
                    "message": f"unknown trigger type {subtype!r} (installed: {known})",
                }
            ]
        )
    if not isinstance(config, dict):
        raise ConfigError(
            [{"trigger": where, "field": f"{where}.config", "message": "must be an object"}]
        )
    try:
        model = cls.Config.model_validate(config)
        valid = ValidTrigger(cls.subtype, model, cls.index_key(model))
    except ValidationError as exc:
        raise ConfigError(
            [
                {
                    "trigger": where,
                    "type": cls.subtype,
                    "field": ".".join([f"{where}.config", *(str(p) for p in e["loc"])]),
                    "message": e["msg"],
                }
                for e in exc.errors()
            ]
        ) from None
    except ValueError as exc:
        raise ConfigError(
            [
                {
                    "trigger": where,
                    "type": cls.subtype,
                    "field": f"{where}.config",
                    "message": str(exc),
                }
            ]
        ) from None
    on_fire = getattr(model, "on_fire", "start")
    if not paused_runs and on_fire != "start":
        raise ConfigError(
            [
                {
                    "trigger": where,
                    "type": cls.subtype,
                    "field": f"{where}.config.on_fire",
                    "message": f"{on_fire!r} needs an engine that lists paused runs, and "
                    "the configured engine cannot: use 'start' and register waits",
                }
            ]
        )
    return valid


class DeploymentService:
    """Deployments and stand-alone triggers, in the database (sync; call from a thread)."""

    def __init__(
        self,
        db: Database,
        types: dict[str, type[BaseTrigger]],
        cipher: SecretCipher,
        *,
        paused_runs: bool = True,
    ) -> None:
        self._db = db
        self._types = types
        self._paused_runs = paused_runs
        """Whether the engine lists paused runs (``EngineAdapter.lists_paused_runs``)."""
        self._cipher = cipher
        self._templates = TemplateService(db)

    @property
    def types(self) -> dict[str, type[BaseTrigger]]:
        """The installed trigger types, by subtype."""
        return self._types

    def deploy(self, workflow_id: str, body: Any) -> dict[str, Any]:
        """Replace the workflow's deployed triggers atomically.

        ConfigError if any trigger is invalid; 409 ``INDEX_KEY_IN_USE`` if one would take
        an exclusive index key (a webhook path) another active trigger holds. Each config
        is first prepared by its type (``BaseTrigger.prepare_config``: defaults from the
        workflow, secrets sealed), so no plaintext secret is stored, not even in the spec.
        """
        _check_identifiers(workflow_id=workflow_id)
        _check_storable(body)
        body = self._prepared(workflow_id, body)
        tenant_id = body.get("tenant_id") if isinstance(body, dict) else None
        _check_identifiers(tenant_id=tenant_id)
        self._set_status(workflow_id, tenant_id, DEPLOYING, body)
        try:
            valid = self._validate_all(trigger_specs(body))
            with self._db.engine.begin() as conn:
                self._deploy(conn, workflow_id, tenant_id, body, valid)
        except (ConfigError, HTTPError) as exc:
            errors = exc.errors if isinstance(exc, ConfigError) else [{"message": exc.message}]
            self.mark_failed(workflow_id, errors, action="deploy")
            raise
        return self.status(workflow_id)  # type: ignore[return-value]

    def _deploy(
        self,
        conn: Connection,
        workflow_id: str,
        tenant_id: Any,
        body: Any,
        valid: list[ValidTrigger],
    ) -> None:
        revision = bump_revision(
            conn
        )  # its row lock orders concurrent deploys: the key check holds
        self._retire(conn, workflow_id, revision)
        self._refuse_taken_keys(conn, valid)
        rows = [v.row(Target(workflow_id), tenant_id, "deployment", revision) for v in valid]
        if rows:
            conn.execute(insert(TRIGGERS), rows)
        self._record(
            conn, workflow_id, "deploy", DEPLOYED, {"trigger_ids": [r["id"] for r in rows]}
        )
        conn.execute(
            update(DEPLOYMENTS)
            .where(DEPLOYMENTS.c.workflow_id == workflow_id)
            .values(status=DEPLOYED, tenant_id=tenant_id, spec=body, updated_at=utcnow())
        )

    def undeploy(self, workflow_id: str) -> dict[str, Any] | None:
        """Stop and remove the workflow's triggers; ``None`` if it was never deployed."""
        with self._db.engine.begin() as conn:
            if (
                conn.execute(
                    select(DEPLOYMENTS.c.workflow_id).where(
                        DEPLOYMENTS.c.workflow_id == workflow_id
                    )
                ).first()
                is None
            ):
                return None
            revision = bump_revision(conn)
            retired = self._retire(conn, workflow_id, revision)
            self._record(conn, workflow_id, "undeploy", UNDEPLOYED, {"trigger_ids": retired})
            conn.execute(
                update(DEPLOYMENTS)
                .where(DEPLOYMENTS.c.workflow_id == workflow_id)
                .values(status=UNDEPLOYED, updated_at=utcnow())
            )
        return self.status(workflow_id)

    def status(self, workflow_id: str) -> dict[str, Any] | None:
        with self._db.engine.connect() as conn:
            deployment = (
                conn.execute(select(DEPLOYMENTS).where(DEPLOYMENTS.c.workflow_id == workflow_id))
                .mappings()
                .first()
            )
            if deployment is None:
                return None
            history = (
                conn.execute(
                    select(HISTORY)
                    .where(HISTORY.c.workflow_id == workflow_id)
                    .order_by(HISTORY.c.id.desc())
                    .limit(50)
                )
                .mappings()
                .all()
            )
            triggers = self._query(conn, workflow_id=workflow_id)
        return {
            "workflow_id": workflow_id,
            "tenant_id": deployment["tenant_id"],
            "status": deployment["status"],
            "updated_at": deployment["updated_at"].isoformat(),
            "triggers": triggers,
            "history": [
                {
                    "action": h["action"],
                    "status": h["status"],
                    "detail": h["detail"],
                    "at": h["created_at"].isoformat(),
                }
                for h in history
            ],
        }

    def mark_failed(self, workflow_id: str, errors: Any, action: str = "start") -> None:
        """Record that a deploy failed: refused (``deploy``), or its triggers, committed,
        failed to start on this replica (``start``)."""
        with self._db.engine.begin() as conn:
            self._record(conn, workflow_id, action, FAILED, {"errors": errors})
            conn.execute(
                update(DEPLOYMENTS)
                .where(DEPLOYMENTS.c.workflow_id == workflow_id)
                .values(status=FAILED, updated_at=utcnow())
            )

    # stand-alone triggers -------------------------------------------------------------

    def create_trigger(self, body: Any) -> dict[str, Any]:
        """A trigger of its own: ``{"type", "config", "workflow_id" or "template", "tenant_id"?}``."""
        target, tenant_id, valid = self._standalone(body)
        with self._db.engine.begin() as conn:
            revision = bump_revision(conn)
            self._refuse_taken_keys(conn, [valid])
            row = valid.row(target, tenant_id, "api", revision)
            conn.execute(insert(TRIGGERS), [row])
        return self.get_trigger(row["id"])  # type: ignore[return-value]

    def update_trigger(self, trigger_id: str, body: Any) -> dict[str, Any] | None:
        current = self.get_trigger(trigger_id)
        if current is None:
            return None
        target = (
            {}
            if "workflow_id" in body or "template" in body
            else (
                {"template": current["template"]}
                if current["template"]
                else {"workflow_id": current["workflow_id"]}
            )
        )
        merged = {"tenant_id": current["tenant_id"], "type": current["type"], **target, **body}
        new_target, tenant_id, valid = self._standalone(merged)
        with self._db.engine.begin() as conn:
            revision = bump_revision(conn)
            self._refuse_taken_keys(conn, [valid], but=trigger_id)
            values = valid.row(new_target, tenant_id, current["origin"], revision)
            del values["id"], values["created_at"]
            conn.execute(update(TRIGGERS).where(TRIGGERS.c.id == trigger_id).values(**values))
        return self.get_trigger(trigger_id)

    def delete_trigger(self, trigger_id: str) -> bool:
        with self._db.engine.begin() as conn:
            revision = bump_revision(conn)
            done = conn.execute(
                update(TRIGGERS)
                .where(TRIGGERS.c.id == trigger_id, TRIGGERS.c.deployment_status == DEPLOYED)
                .values(deployment_status=UNDEPLOYED, revision=revision, updated_at=utcnow())
            )
            return done.rowcount == 1

    def get_trigger(self, trigger_id: str) -> dict[str, Any] | None:
        with self._db.engine.connect() as conn:
            found = self._query(conn, trigger_id=trigger_id)
        return found[0] if found else None

    def list_triggers(self, **filters: str | None) -> list[dict[str, Any]]:
        with self._db.engine.connect() as conn:
            return self._query(conn, **filters)

    # helpers ------------------------------------------------------------------------------

    def _validate_all(self, specs: list[tuple[Any, Any]]) -> list[ValidTrigger]:
        valid, errors = [], []
        for i, (subtype, config) in enumerate(specs):
            try:
                valid.append(
                    validate_trigger(
                        self._types,
                        subtype,
                        config,
                        f"triggers[{i}]",
                        paused_runs=self._paused_runs,
                    )
                )
            except ConfigError as exc:
                errors.extend(exc.errors)
        if errors:
            raise ConfigError(errors)
        return valid

    def _standalone(self, body: Any) -> tuple[Target, str | None, ValidTrigger]:
        if not isinstance(body, dict):
            raise ConfigError([{"field": "body", "message": "must be a JSON object"}])
        workflow_id, template, tenant_id = (
            body.get("workflow_id"),
            body.get("template"),
            body.get("tenant_id"),
        )
        if (workflow_id is None) == (template is None):
            raise ConfigError(
                [
                    {
                        "field": "workflow_id",
                        "message": "give a target workflow_id or a template, not both",
                    }
                ]
            )
        _check_identifiers(workflow_id=workflow_id, template=template, tenant_id=tenant_id)
        if template is None:
            target = Target(str(workflow_id))
        else:
            found = self._template(template, tenant_id)
            target, tenant_id = Target(workflow_id_of(found), found["name"]), found["tenant_id"]
        subtype, config = body.get("type"), body.get("config", {})
        config = self._prepare(subtype, config, target.workflow_id)
        valid = validate_trigger(
            self._types, subtype, config, "trigger", paused_runs=self._paused_runs
        )
        return target, tenant_id, valid

    def _prepared(self, workflow_id: str, body: Any) -> Any:
        """A copy of a deploy body with each trigger's config prepared by its type."""
        body = copy.deepcopy(body)
        for _, spec, type_field, config_field in _trigger_entries(body):
            if config_field in spec or type_field in spec:
                spec[config_field] = self._prepare(
                    spec.get(type_field), spec.get(config_field, {}), workflow_id
                )
        return body

    def _prepare(self, subtype: Any, config: Any, workflow_id: str) -> Any:
        """``prepare_config`` of the type; what validation will refuse is left for it to name."""
        cls = self._types.get(subtype) if isinstance(subtype, str) else None
        if cls is None or not isinstance(config, dict):
            return config
        return cls.prepare_config(config, workflow_id=workflow_id, seal=self._cipher.seal)

    def _refuse_taken_keys(
        self, conn: Connection, valid: list[ValidTrigger], but: str | None = None
    ) -> None:
        """409 when an exclusive index key (``BaseTrigger.exclusive_index_key``) is given
        twice, or is held by another active trigger (``but`` is the one being updated).

        Run after ``bump_revision`` in the same transaction: its row lock makes deploys on
        every replica take turns, so two cannot both take a free key.
        """
        keys = [
            (v.subtype, v.index_key)
            for v in valid
            if v.index_key is not None and self._types[v.subtype].exclusive_index_key
        ]
        if not keys:
            return
        if len(set(keys)) < len(keys):
            subtype, key = next(k for k in keys if keys.count(k) > 1)
            raise _in_use(subtype, key, "is given to two triggers of this deploy")
        query = select(
            TRIGGERS.c.trigger_subtype, TRIGGERS.c.index_key, TRIGGERS.c.workflow_id
        ).where(
            TRIGGERS.c.deployment_status == DEPLOYED,
            or_(
                *(and_(TRIGGERS.c.trigger_subtype == s, TRIGGERS.c.index_key == k) for s, k in keys)
            ),
        )
        if but is not None:
            query = query.where(TRIGGERS.c.id != but)
        holder = conn.execute(query.limit(1)).first()
        if holder is not None:
            holder_is = f"is held by an active trigger of workflow {holder.workflow_id!r}"
            raise _in_use(holder.trigger_subtype, holder.index_key, holder_is)

    def _template(self, name: Any, tenant_id: Any) -> dict[str, Any]:
        """The template a trigger targets; a missing one is a 422 naming ``template``."""
        try:
            return self._templates.get(name, tenant_id)
        except HTTPError as exc:
            raise ConfigError([{"field": "template", "message": exc.message}]) from None

    def _set_status(self, workflow_id: str, tenant_id: str | None, status: str, spec: Any) -> None:
        """Create the deployment row or set its status (safe against concurrent first deploys)."""
        now = utcnow()
        dialect = postgresql if self._db.is_postgres else sqlite
        upsert = (
            dialect.insert(DEPLOYMENTS)
            .values(
                workflow_id=workflow_id,
                tenant_id=tenant_id,
                status=status,
                spec=spec if isinstance(spec, dict) else None,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=["workflow_id"], set_={"status": status, "updated_at": now}
            )
        )
        with self._db.engine.begin() as conn:
            conn.execute(upsert)

    @staticmethod
    def _retire(conn: Connection, workflow_id: str, revision: int) -> list[str]:
        active = (
            (TRIGGERS.c.workflow_id == workflow_id)
            & (TRIGGERS.c.deployment_status == DEPLOYED)
            & (TRIGGERS.c.origin == "deployment")
        )
        ids: list[str] = list(conn.execute(select(TRIGGERS.c.id).where(active)).scalars())
        if ids:
            conn.execute(
                update(TRIGGERS)
                .where(TRIGGERS.c.id.in_(ids))
                .values(deployment_status=UNDEPLOYED, revision=revision, updated_at=utcnow())
            )
        return ids

    @staticmethod
    def _record(
        conn: Connection, workflow_id: str, action: str, status: str, detail: dict[str, Any]
    ) -> None:
        conn.execute(
            insert(HISTORY).values(
                workflow_id=workflow_id,
                action=action,
                status=status,
                detail=detail,
                created_at=utcnow(),
            )
        )

    @staticmethod
    def _query(conn: Connection, **filters: str | None) -> list[dict[str, Any]]:
        columns = {"trigger_id": TRIGGERS.c.id, "type": TRIGGERS.c.trigger_subtype}
        query = select(TRIGGERS).where(TRIGGERS.c.deployment_status == DEPLOYED)
        for name, value in filters.items():
            if value is not None:
                column = columns[name] if name in columns else TRIGGERS.c[name]
                query = query.where(column == value)
        return [
            _trigger_view(r) for r in conn.execute(query.order_by(TRIGGERS.c.created_at)).mappings()
        ]


def _trigger_view(row: RowMapping) -> dict[str, Any]:
    return {
        "trigger_id": row["id"],
        "workflow_id": row["workflow_id"],
        "template": row["template"],
        "tenant_id": row["tenant_id"],
        "type": row["trigger_subtype"],
        "config": row["trigger_config"],
        "index_key": row["index_key"],
        "status": row["deployment_status"],
        "origin": row["origin"],
        "created_at": row["created_at"].isoformat(),
    }


def _check_identifiers(**fields: Any) -> None:
    """A 422 naming each given field (not ``None``) that is not an identifier."""
    errors: list[dict[str, object]] = [
        {"field": name, "message": IDENTIFIER_RULE}
        for name, value in fields.items()
        if value is not None and not is_identifier(value)
    ]
    if errors:
        raise ConfigError(errors)


def _check_storable(body: Any) -> None:
    """A 422 for a deploy body the ``spec`` column cannot keep: ``NaN``, ``Infinity`` or a
    value that is no JSON (a plugin's Python call; the API's parser refuses them)."""
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError([{"field": "body", "message": f"not storable as JSON: {exc}"}]) from None


def _in_use(subtype: str, key: str, why: str) -> HTTPError:
    return HTTPError(
        409,
        "INDEX_KEY_IN_USE",
        f"the {subtype} key {key!r} {why}; it must be unique among active triggers",
        extra={"type": subtype, "index_key": key},
    )


class Deployments:
    """Changes to the deployed triggers, applied: each is written through the
    :class:`DeploymentService` (on a thread), then applied to this replica's trigger
    manager before it returns, so the caller sees its triggers running (other replicas
    follow within a second). A deployed trigger that fails to start marks its
    deployment ``DEPLOYMENT_FAILED``."""

    def __init__(self, service: DeploymentService, manager: TriggerManager) -> None:
        self._service = service
        self._manager = manager
        self._context: GatewayContext | None = None

    def bind(self, context: GatewayContext) -> None:
        """The context handed to ``BaseTrigger.resolve_config`` (before the first change)."""
        self._context = context

    async def deploy(self, workflow_id: str, body: Any) -> dict[str, Any]:
        """Deploy (or atomically redeploy) a workflow's triggers; its status view."""
        body = await self._resolved(body)
        deployed = await asyncio.to_thread(self._service.deploy, workflow_id, body)
        await self._manager.sync()
        errors = self._manager.errors  # a trigger not restored is not in the index: ask by id
        failed = {
            t["trigger_id"]: errors[t["trigger_id"]]
            for t in deployed["triggers"]
            if t["trigger_id"] in errors
        }
        if failed:
            await asyncio.to_thread(self._service.mark_failed, workflow_id, failed)
        status: dict[str, Any] = await self.status(workflow_id)  # type: ignore[assignment]
        return status

    async def undeploy(self, workflow_id: str) -> dict[str, Any] | None:
        """Stop and remove a workflow's triggers; ``None`` if it was never deployed."""
        return await self._applied(self._service.undeploy, workflow_id)

    async def status(self, workflow_id: str) -> dict[str, Any] | None:
        """A workflow's deployment status, triggers and history; ``None`` if never deployed."""
        return await asyncio.to_thread(self._service.status, workflow_id)

    async def create_trigger(self, body: Any) -> dict[str, Any]:
        """A stand-alone trigger: ``{"type", "config", "workflow_id" or "template", "tenant_id"?}``."""
        body = await self._resolved_trigger(body)
        return await self._applied(self._service.create_trigger, body)

    async def update_trigger(self, trigger_id: str, body: Any) -> dict[str, Any] | None:
        """Replace a trigger's config (and optionally its target); ``None`` if there is none."""
        if isinstance(body, dict) and "config" in body and "type" not in body:
            current = await self.get_trigger(trigger_id)
            if current is None:
                return None
            body = {**body, "type": current["type"]}
        body = await self._resolved_trigger(body)
        return await self._applied(self._service.update_trigger, trigger_id, body)

    async def delete_trigger(self, trigger_id: str) -> bool:
        """Stop and remove a trigger; ``False`` if there was none."""
        return await self._applied(self._service.delete_trigger, trigger_id)

    async def get_trigger(self, trigger_id: str) -> dict[str, Any] | None:
        """One deployed trigger as ``GET /api/v1/triggers/{id}`` shows it."""
        return await asyncio.to_thread(self._service.get_trigger, trigger_id)

    async def list_triggers(self, **filters: str | None) -> list[dict[str, Any]]:
        """Deployed triggers; filters ``type``, ``workflow_id``, ``tenant_id``."""
        return await asyncio.to_thread(self._service.list_triggers, **filters)

    async def _resolved(self, body: Any) -> Any:
        """A copy of a deploy body with each trigger's config through its type's
        ``resolve_config``."""
        body = copy.deepcopy(body)
        for where, spec, type_field, config_field in _trigger_entries(body):
            await self._resolve(where, spec, type_field, config_field)
        return body

    async def _resolved_trigger(self, body: Any) -> Any:
        """A copy of a stand-alone trigger's body with its config resolved."""
        if not isinstance(body, dict):
            return body
        body = copy.deepcopy(body)
        await self._resolve("trigger", body, "type", "config")
        return body

    async def _resolve(
        self, where: str, spec: dict[str, Any], type_field: str, config_field: str
    ) -> None:
        """Resolve one trigger's config in place; a ``ConfigError`` names the field
        (``triggers[0].config.repository``)."""
        assert self._context is not None, "Deployments.bind(context) first"
        subtype, config = spec.get(type_field), spec.get(config_field)
        cls = self._service.types.get(subtype) if isinstance(subtype, str) else None
        if cls is None or not isinstance(config, dict):
            return  # validation names it
        try:
            spec[config_field] = await cls.resolve_config(config, context=self._context)
        except ConfigError as exc:
            raise ConfigError(
                [
                    {
                        **error,
                        "trigger": where,
                        "type": cls.subtype,
                        "field": f"{where}.config.{error['field']}",
                    }
                    for error in exc.errors
                ]
            ) from None

    async def _applied(self, change: Callable[..., T], *args: Any) -> T:
        done = await asyncio.to_thread(change, *args)
        await self._manager.sync()
        return done
