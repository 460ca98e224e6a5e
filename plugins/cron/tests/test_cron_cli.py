"""``highway-triggers schedules``: the plugin's commands, added to the CLI through its hook,
against a gateway on loopback."""

from __future__ import annotations

import json
import subprocess

from highway_triggers.testing import ADMIN_TOKEN, RunningGateway, run_cli

DAILY = {"cron_expression": "0 9 * * MON-FRI", "timezone": "Europe/Berlin", "workflow_id": "wf"}


def cells(output: str) -> list[list[str]]:
    """A printed table's cells, the header first (cells hold no double space)."""
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()] for line in output.splitlines()
    ]


def test_list_pause_resume_preview_and_delete(gateway: RunningGateway) -> None:
    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_cli(*args, "--url", gateway.url, "--token", ADMIN_TOKEN)
        assert (result.returncode == 0) == ok, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result

    client = gateway.client()
    daily = client.post("/api/v1/schedules", json=DAILY).json()
    hourly = client.post(
        "/api/v1/schedules", json={"cron_expression": "@hourly", "workflow_id": "wf-hourly"}
    ).json()
    ids = sorted([daily["schedule_id"], hourly["schedule_id"]])

    header, *listed = cells(cli("schedules", "list").stdout)
    assert header == ["SCHEDULE_ID", "WORKFLOW", "EXPRESSION", "TIMEZONE", "STATE", "NEXT_FIRE"]
    assert sorted(listed) == sorted(
        [
            [
                daily["schedule_id"],
                "wf",
                "0 9 * * MON-FRI",
                "Europe/Berlin",
                "active",
                daily["next_run_at"],
            ],
            [hourly["schedule_id"], "wf-hourly", "@hourly", "UTC", "active", hourly["next_run_at"]],
        ]
    )
    as_json = json.loads(cli("schedules", "list", "--json").stdout)
    assert sorted(s["schedule_id"] for s in as_json["schedules"]) == ids

    paused = cli("schedules", "pause", daily["schedule_id"]).stdout
    assert cells(paused)[1][4:] == ["paused", "-"]  # no next fire while paused
    assert client.get(f"/api/v1/schedules/{daily['schedule_id']}").json()["paused"] is True
    (only,) = cells(cli("schedules", "list", "--workflow-id", "wf").stdout)[1:]
    assert only[4] == "paused"
    resumed = json.loads(cli("schedules", "resume", daily["schedule_id"], "--json").stdout)
    assert (resumed["paused"], resumed["next_run_at"]) == (False, daily["next_run_at"])

    preview = cli("schedules", "preview", daily["schedule_id"], "--count", "3").stdout
    first, header_line, *fires = preview.splitlines()
    assert first == f"{daily['schedule_id']}: 0 9 * * MON-FRI (Europe/Berlin)"
    assert header_line.split() == ["AT", "LOCAL", "TRANSITION"]
    assert len(fires) == 3 and fires[0].split()[0] == daily["next_run_at"]
    assert all("T09:00:00+0" in fire.split()[1] for fire in fires)

    refused = cli("schedules", "preview", daily["schedule_id"], "--count", "0", ok=False)
    assert "count" in refused.stderr
    deleted = cli("schedules", "delete", hourly["schedule_id"]).stdout
    assert deleted.strip() == f"schedule {hourly['schedule_id']} deleted"
    missing = cli("schedules", "get", hourly["schedule_id"], ok=False)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    assert cells(cli("schedules", "get", daily["schedule_id"]).stdout)[1][0] == daily["schedule_id"]
