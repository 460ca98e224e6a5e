"""The slot claim: inserted once per ``(trigger_id, scheduled_at)``, only for the deployed
trigger version, in the fire's own transaction; never an error for an expected refusal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from highway_triggers_cron import claims
from highway_triggers_cron.claims import CLAIMS, ClaimSQL, SlotClaim
from highway_triggers_cron.trigger import CronTrigger
from sqlalchemy import func, select

from highway_triggers.plugin import GatewayContext
from highway_triggers.testing import RunningGateway, gateway_settings, running_gateway

SLOT = datetime(2030, 1, 1, 9, tzinfo=UTC)
ENDED = {"cron_expression": "0 9 * * *", "timezone": "UTC", "end_at": "2021-01-01T00:00:00Z"}
"""A schedule with no job (it has ended), so that only the test claims its slots."""


def schedule(gateway: RunningGateway, workflow_id: str) -> CronTrigger:
    """A new schedule's trigger as this replica runs it."""
    answer = gateway.client().post("/api/v1/schedules", json={**ENDED, "workflow_id": workflow_id})
    assert answer.status_code == 201, answer.text
    (trigger,) = gateway.context.triggers.of_workflow(workflow_id, "CRON")
    assert isinstance(trigger, CronTrigger)
    return trigger


def claim(context: GatewayContext, trigger: CronTrigger, slot: datetime) -> SlotClaim:
    slot_claim = SlotClaim(ClaimSQL(context.database.dialect), context.triggers, trigger, slot)
    with context.database.engine.begin() as conn:
        assert slot_claim(conn) is (slot_claim.refusal is None)
    return slot_claim


def test_a_slot_is_claimed_once(gateway: RunningGateway) -> None:
    t1, t2 = schedule(gateway, "wf-1"), schedule(gateway, "wf-2")
    assert claim(gateway.context, t1, SLOT).refusal is None
    assert claim(gateway.context, t1, SLOT).refusal == "lost_claim"
    assert claim(gateway.context, t2, SLOT).refusal is None  # another trigger, same slot
    assert claim(gateway.context, t1, SLOT + timedelta(days=1)).refusal is None


def test_a_claim_for_a_version_no_longer_deployed_is_refused(gateway: RunningGateway) -> None:
    context, client = gateway.context, gateway.client()
    t1, t2 = schedule(gateway, "wf-1"), schedule(gateway, "wf-2")
    assert claim(context, t1, SLOT).refusal is None
    assert client.post(f"/api/v1/schedules/{t1.id}/pause").status_code == 200
    assert claim(context, t1, SLOT + timedelta(days=1)).refusal == "paused"
    assert claim(context, t1, SLOT).refusal == "lost_claim"  # claimed before the pause

    assert client.put(f"/api/v1/schedules/{t2.id}", json={"jitter_seconds": 5}).status_code == 200
    assert claim(context, t2, SLOT).refusal == "inactive"  # an older version
    (t2_now,) = context.triggers.of_workflow("wf-2", "CRON")
    assert client.delete(f"/api/v1/schedules/{t2.id}").status_code == 204
    assert claim(context, t2_now, SLOT).refusal == "inactive"
    gone = CronTrigger(
        id="gone", workflow_id="wf", tenant_id=None, config=t1.config, context=context, revision=1
    )
    assert claim(context, gone, SLOT).refusal == "inactive"


def test_a_claim_commits_or_rolls_back_with_its_transaction(gateway: RunningGateway) -> None:
    context = gateway.context
    t1 = schedule(gateway, "wf-1")
    slot_claim = SlotClaim(ClaimSQL(context.database.dialect), context.triggers, t1, SLOT)
    with pytest.raises(RuntimeError), context.database.engine.begin() as conn:
        assert slot_claim(conn)
        raise RuntimeError("the dispatch rows failed")
    assert claim(context, t1, SLOT).refusal is None


@pytest.mark.postgres
def test_concurrent_claims_on_postgresql_one_wins_none_fails(
    postgres_url: str, tmp_path: Path
) -> None:
    with running_gateway(gateway_settings(postgres_url, tmp_path)) as gateway:
        t1 = schedule(gateway, "wf-1")
        outcomes: list[str | None] = []
        start = threading.Barrier(8)

        def race() -> None:
            start.wait()
            outcomes.append(claim(gateway.context, t1, SLOT).refusal)

        threads = [threading.Thread(target=race) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes, key=str) == [None] + ["lost_claim"] * 7


def test_restore_points_last_runs_and_prune(gateway: RunningGateway) -> None:
    context = gateway.context
    t1, t2, t3 = (schedule(gateway, f"wf-{n}") for n in (1, 2, 3))
    for days in (0, 1, 10, 11):
        claim(context, t1, SLOT - timedelta(days=days))
    claim(context, t2, SLOT - timedelta(days=20))
    before_deploy = datetime(2020, 1, 1, tzinfo=UTC)
    claim(context, t3, before_deploy)
    with context.database.engine.begin() as conn:
        points = claims.restore_points(conn, context.triggers)
        assert set(points) == {t1.id, t2.id, t3.id}
        assert (points[t1.id], points[t2.id]) == (SLOT, SLOT - timedelta(days=20))
        # its only claim is older than its version: since that version was deployed
        assert abs(points[t3.id] - datetime.now(UTC)) < timedelta(minutes=1)
        last = claims.last_runs(conn, [t1.id, t2.id, "never-fired"])
        assert set(last) == {t1.id, t2.id} and last[t1.id][0] == SLOT
        assert claims.prune(conn, SLOT - timedelta(days=5)) == 2  # t2 keeps its latest
        remaining = conn.execute(
            select(CLAIMS.c.trigger_id, func.count()).group_by(CLAIMS.c.trigger_id)
        )
        assert dict(remaining.all()) == {t1.id: 2, t2.id: 1, t3.id: 1}


def test_latest_slots_of_many_schedules_in_one_statement(gateway: RunningGateway) -> None:
    context = gateway.context
    t1, t2 = schedule(gateway, "wf-1"), schedule(gateway, "wf-2")
    claim(context, t1, SLOT - timedelta(days=1))
    claim(context, t1, SLOT)
    claim(context, t2, SLOT - timedelta(days=3))
    ids = [t1.id, *(f"never-fired-{n}" for n in range(5000)), t2.id]
    with context.database.engine.connect() as conn:
        assert claims.latest_slots(conn, ids) == {t1.id: SLOT, t2.id: SLOT - timedelta(days=3)}
        assert claims.latest_slots(conn, []) == {}
