"""``/api/v1/schedules``: schedules are CRON triggers, kept by the core's deployment service
(so they are listed under ``/api/v1/triggers`` too), plus pause, resume and preview.

An admin token manages every tenant's schedules; a tenant's JWT only its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from highway_triggers.plugin import (
    IDENTIFIER_SCHEMA,
    ConfigError,
    Database,
    GatewayContext,
    HTTPError,
    Identifier,
    Partial,
    admin_or_tenant,
    context_of,
    operation,
    path_identifier,
    query_identifier,
    read_object,
)
from highway_triggers_cron import claims
from highway_triggers_cron.catchup import COUNT_LIMIT
from highway_triggers_cron.config import CronConfig
from highway_triggers_cron.service import scheduler_of
from highway_triggers_cron.timetable import iso_utc
from highway_triggers_cron.views import Preview, Schedule, Schedules, preview_view, schedule_view

MAX_PREVIEW = 500


class ScheduleBody(CronConfig):
    """A schedule as ``POST /api/v1/schedules`` takes it: its config's fields and what it
    starts, a workflow or a template's (exactly one of them)."""

    workflow_id: Identifier | None = None
    template: Identifier | None = None
    tenant_id: Identifier | None = None
    """An admin's choice; a tenant's JWT sets it."""


SCHEDULE_FIELDS = frozenset(CronConfig.model_fields)
TARGET_FIELDS = tuple(name for name in ScheduleBody.model_fields if name not in SCHEDULE_FIELDS)
PAUSE_BODY = {
    "type": "object",
    "properties": {"note": {"type": ["string", "null"], "maxLength": 1000}},
    "additionalProperties": False,
}


@operation(
    query={"workflow_id": IDENTIFIER_SCHEMA, "tenant_id": IDENTIFIER_SCHEMA},
    responses={200: Schedules},
    errors=(400,),
    security="admin_or_tenant",
)
async def list_schedules(request: Request) -> Response:
    """Schedules; filters ``workflow_id`` and (for an admin) ``tenant_id``."""
    context = context_of(request)
    tenant = await admin_or_tenant(request)
    triggers = await context.deployments.list_triggers(
        type="CRON",
        workflow_id=query_identifier(request, "workflow_id"),
        tenant_id=tenant or query_identifier(request, "tenant_id"),
    )
    schedules = await _views(context, triggers)
    return JSONResponse({"schedules": schedules, "count": len(schedules)})


@operation(body=ScheduleBody, responses={201: Schedule}, errors=(422,), security="admin_or_tenant")
async def create_schedule(request: Request) -> Response:
    """Create a schedule: ``cron_expression``, ``workflow_id`` or ``template``, and the
    optional ``timezone``, ``enabled``, ``jitter_seconds``, ``catchup_window_seconds``,
    ``start_at``, ``end_at``, ``on_fire``, ``tenant_id``."""
    context = context_of(request)
    tenant = await admin_or_tenant(request)
    body = _trigger_body(await read_object(request), tenant, {})
    created = await context.deployments.create_trigger(body)
    return JSONResponse((await _views(context, [created]))[0], status_code=201)


@operation(responses={200: Schedule}, errors=(404,), security="admin_or_tenant")
async def get_schedule(request: Request) -> Response:
    """One schedule, with ``next_run_at``, ``last_run_at`` and ``paused``."""
    current, _ = await _existing(request)
    return JSONResponse((await _views(context_of(request), [current]))[0])


@operation(
    body=Partial(ScheduleBody),
    responses={200: Schedule},
    errors=(404,),
    security="admin_or_tenant",
)
async def update_schedule(request: Request) -> Response:
    """Change a schedule: the fields given replace those stored, the others stay."""
    current, tenant = await _existing(request)
    changes = await read_object(request)
    config = _pause_state(current["config"], changes.get("enabled"), _now(request))
    return await _update(request, current, _trigger_body(changes, tenant, config))


@operation(responses={204: None}, errors=(404,), security="admin_or_tenant")
async def delete_schedule(request: Request) -> Response:
    """Remove a schedule: its job goes on every replica, and a fire under way is refused."""
    current, _ = await _existing(request)
    await context_of(request).deployments.delete_trigger(current["trigger_id"])
    return Response(status_code=204)


@operation(
    body=PAUSE_BODY, responses={200: Schedule}, errors=(404, 422), security="admin_or_tenant"
)
async def pause_schedule(request: Request) -> Response:
    """Pause a schedule, with an optional ``{"note"}`` saying why."""
    current, _ = await _existing(request)
    body = await read_object(request)
    _only(body, {"note"})
    config = {**_pause_state(current["config"], False, _now(request)), "note": body.get("note")}
    if config == current["config"]:
        return JSONResponse((await _views(context_of(request), [current]))[0])
    return await _update(request, current, {"config": config})


@operation(responses={200: Schedule}, errors=(404,), security="admin_or_tenant")
async def resume_schedule(request: Request) -> Response:
    """Resume a paused schedule from now on: slots that passed while paused are not fired
    (they are counted as skipped, reason ``paused``)."""
    current, _ = await _existing(request)
    if current["config"].get("enabled", True):
        return JSONResponse((await _views(context_of(request), [current]))[0])
    config = _pause_state(current["config"], True, _now(request))
    return await _update(request, current, {"config": config})


@operation(
    query={"count": {"type": "integer", "minimum": 1, "maximum": MAX_PREVIEW, "default": 10}},
    responses={200: Preview},
    errors=(404, 422),
    security="admin_or_tenant",
)
async def preview_schedule(request: Request) -> Response:
    """The next ``count`` fire times (default 10) in the schedule's zone, DST changes marked."""
    current, _ = await _existing(request)
    raw = request.query_params.get("count", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PREVIEW:
        raise ConfigError(
            [{"field": "count", "message": f"must be a whole number from 1 to {MAX_PREVIEW}"}]
        )
    return JSONResponse(preview_view(current, _now(request), int(raw)))


# helpers ----------------------------------------------------------------------------------


async def _existing(request: Request) -> tuple[dict[str, Any], str | None]:
    """The schedule named in the path and the caller's tenant (``None``: an admin); 404 if
    there is no such schedule the caller may see."""
    schedule_id = path_identifier(request, "schedule_id")
    tenant = await admin_or_tenant(request)
    trigger = await context_of(request).deployments.get_trigger(schedule_id)
    if trigger is None or trigger["type"] != "CRON" or tenant not in (None, trigger["tenant_id"]):
        raise HTTPError(404, "SCHEDULE_NOT_FOUND", f"no schedule {schedule_id!r}")
    return trigger, tenant


async def _update(request: Request, current: dict[str, Any], body: dict[str, Any]) -> Response:
    """Apply ``body`` through the deployment service; a schedule that resumes counts the
    slots it skipped while paused."""
    context = context_of(request)
    updated = await context.deployments.update_trigger(current["trigger_id"], body)
    if updated is None:
        raise HTTPError(404, "SCHEDULE_NOT_FOUND", f"no schedule {current['trigger_id']!r}")
    before = CronConfig.model_validate(current["config"])
    if before.paused_at is not None and updated["config"]["enabled"]:
        skipped = before.timetable.count_between(before.paused_at, _now(request), COUNT_LIMIT)
        scheduler_of(context).metrics.skipped("paused", skipped)
    return JSONResponse((await _views(context, [updated]))[0])


def _trigger_body(
    body: dict[str, Any], tenant: str | None, config: dict[str, Any]
) -> dict[str, Any]:
    """A stand-alone trigger body for the deployment service, from a schedule body.

    ``config`` is what the given schedule fields are merged into; the merged config is
    checked here so that a 422 names the schedule's own field.
    """
    _only(body, SCHEDULE_FIELDS | set(TARGET_FIELDS))
    merged = {**config, **{k: v for k, v in body.items() if k in SCHEDULE_FIELDS}}
    try:
        CronConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(
            [
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                for e in exc.errors()
            ]
        ) from None
    target = {k: body[k] for k in TARGET_FIELDS if k in body}
    if tenant is not None:
        if target.get("tenant_id", tenant) != tenant:
            raise HTTPError(
                403, "FORBIDDEN", "a tenant token manages its own tenant's schedules only"
            )
        target["tenant_id"] = tenant
    return {"type": "CRON", "config": merged, **target}


def _only(body: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ConfigError([{"field": name, "message": "unknown field"} for name in unknown])


def _pause_state(config: dict[str, Any], enabled: Any, now: datetime) -> dict[str, Any]:
    """``config`` with ``paused_at`` set when it becomes paused and cleared (with the note)
    when it resumes; unchanged when ``enabled`` is not a boolean."""
    if enabled is False and config.get("enabled", True):
        return {**config, "enabled": False, "paused_at": iso_utc(now)}
    if enabled is True:
        return {**config, "enabled": True, "paused_at": None, "note": None}
    return config


async def _views(context: GatewayContext, triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The schedules as answered, with their last runs read in one go."""
    ids = [t["trigger_id"] for t in triggers]
    last = await context.database.call(_last_runs, context.database, ids)
    now = scheduler_of(context).clock()
    return [schedule_view(trigger, last.get(trigger["trigger_id"]), now) for trigger in triggers]


def _last_runs(db: Database, ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    with db.engine.connect() as conn:
        return claims.last_runs(conn, ids)


def _now(request: Request) -> datetime:
    return scheduler_of(context_of(request)).clock()


routes: list[BaseRoute] = [
    Route("/api/v1/schedules", list_schedules, methods=["GET"]),
    Route("/api/v1/schedules", create_schedule, methods=["POST"]),
    Route("/api/v1/schedules/{schedule_id}", get_schedule, methods=["GET"]),
    Route("/api/v1/schedules/{schedule_id}", update_schedule, methods=["PUT"]),
    Route("/api/v1/schedules/{schedule_id}", delete_schedule, methods=["DELETE"]),
    Route("/api/v1/schedules/{schedule_id}/pause", pause_schedule, methods=["POST"]),
    Route("/api/v1/schedules/{schedule_id}/resume", resume_schedule, methods=["POST"]),
    Route("/api/v1/schedules/{schedule_id}/preview", preview_schedule, methods=["GET"]),
]
