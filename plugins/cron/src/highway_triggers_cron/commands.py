"""``highway-triggers schedules``: the schedules of a running gateway, over its HTTP API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from highway_triggers.plugin import gateway_options, json_option, show_answer, table

SCHEDULE_COLUMNS = [
    ("SCHEDULE_ID", "schedule_id"),
    ("WORKFLOW", "workflow_id"),
    ("EXPRESSION", "cron_expression"),
    ("TIMEZONE", "timezone"),
    ("STATE", "state"),
    ("NEXT_FIRE", "next_run_at"),
]
FIRE_COLUMNS = [("AT", "at"), ("LOCAL", "local"), ("TRANSITION", "change")]


def _path(schedule_id: str, action: str = "") -> str:
    return f"/api/v1/schedules/{quote(schedule_id, safe='')}{action}"


def _schedules_text(schedules: list[dict[str, Any]]) -> str:
    rows = [{**s, "state": "paused" if s["paused"] else "active"} for s in schedules]
    return table(rows, SCHEDULE_COLUMNS)


def _preview_text(preview: dict[str, Any]) -> str:
    rows = [
        {**fire, "change": fire["transition"] and _transition(fire["transition"])}
        for fire in preview["fires"]
    ]
    head = f"{preview['schedule_id']}: {preview['cron_expression']} ({preview['timezone']})"
    return f"{head}{' paused' if preview['paused'] else ''}\n{table(rows, FIRE_COLUMNS)}"


def _transition(change: dict[str, Any]) -> str:
    return f"{change['kind']} {change['offset_before']} -> {change['offset_after']}"


@click.group()
def schedules() -> None:
    """CRON schedules (the cron plugin)."""


@schedules.command("list")
@click.option("--workflow-id", default=None)
@click.option("--tenant-id", default=None)
@gateway_options
@json_option
def list_schedules(
    workflow_id: str | None, tenant_id: str | None, url: str, token: str | None, as_json: bool
) -> None:
    """Schedules, their state and next fire time."""
    params = {"workflow_id": workflow_id, "tenant_id": tenant_id}
    show_answer(
        url,
        token,
        as_json,
        lambda client: client.get("/api/v1/schedules", params=params),
        lambda listed: _schedules_text(listed["schedules"]),
    )


def _one(name: str, method: str, action: str, doc: str) -> click.Command:
    """``schedules NAME ID``: ``method`` of the schedule's path plus ``action``, shown as a row."""

    @gateway_options
    @json_option
    @click.argument("schedule_id")
    def command(schedule_id: str, url: str, token: str | None, as_json: bool) -> None:
        show_answer(
            url,
            token,
            as_json,
            lambda client: client.request(method, _path(schedule_id, action)),
            lambda schedule: _schedules_text([schedule]),
        )

    return click.command(name, help=doc)(command)


schedules.add_command(_one("get", "GET", "", "One schedule."))
schedules.add_command(_one("pause", "POST", "/pause", "Stop a schedule firing (kept, resumable)."))
schedules.add_command(_one("resume", "POST", "/resume", "Fire a paused schedule again."))


@schedules.command("preview")
@click.argument("schedule_id")
@click.option("--count", type=int, default=10, show_default=True, help="How many fires.")
@gateway_options
@json_option
def preview(schedule_id: str, count: int, url: str, token: str | None, as_json: bool) -> None:
    """The next fire times, in UTC and the schedule's zone, DST changes marked."""
    show_answer(
        url,
        token,
        as_json,
        lambda client: client.get(_path(schedule_id, "/preview"), params={"count": count}),
        _preview_text,
    )


@schedules.command("delete")
@click.argument("schedule_id")
@gateway_options
@json_option
def delete(schedule_id: str, url: str, token: str | None, as_json: bool) -> None:
    """Delete a schedule."""
    show_answer(
        url,
        token,
        as_json,
        lambda client: {**client.delete(_path(schedule_id)), "deleted": schedule_id},
        lambda answer: f"schedule {answer['deleted']} deleted",
    )
