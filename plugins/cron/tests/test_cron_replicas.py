"""Three gateway processes on one PostgreSQL database run one 1-second schedule.

Every replica schedules it; each slot fires once, for the replica that inserts its
claim. One replica is then killed with SIGKILL: the others keep every slot. Pause,
resume and delete reach all (surviving) replicas within a second, and no slot after a
pause or a delete fires.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from highway_triggers_cron.timetable import iso_utc
from sqlalchemy import create_engine, text

from highway_triggers.testing import (
    FakeEngine,
    GatewayProcess,
    running_replicas,
    wait_until,
)

RUN_SECONDS = 20
PROPAGATION = 1.0


class Replica:
    def __init__(self, name: str, process: GatewayProcess) -> None:
        self.name = name
        self.process = process
        self.client = process.admin

    def jobs(self) -> int:
        health = self.client.get("/health/detailed").json()
        return int(health["plugins_health"]["highway-triggers-cron"]["jobs"])

    def metric(self, name: str, label: str) -> float:
        found = re.search(
            rf"^{name}\{{{label}\}} (\S+)$", self.client.get("/metrics").text, re.MULTILINE
        )
        return float(found.group(1)) if found else 0.0


@pytest.fixture
def replicas(
    postgres_url: str, tmp_path: Path, bytecode_env: dict[str, str]
) -> Iterator[tuple[list[Replica], FakeEngine]]:
    with running_replicas(postgres_url, tmp_path, 3, env=bytecode_env) as (processes, engine):
        yield [Replica(n, p) for n, p in zip("abc", processes, strict=True)], engine


def claimed_slots(postgres_url: str, schedule_id: str) -> list[datetime]:
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT scheduled_at FROM cron_claims WHERE trigger_id = :id ORDER BY 1"),
                {"id": schedule_id},
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def assert_every_second_once(slots: list[datetime]) -> None:
    assert slots, "nothing fired"
    doubles = [s for s, n in Counter(slots).items() if n > 1]
    assert not doubles, f"fired twice: {doubles}"
    span = int((slots[-1] - slots[0]).total_seconds()) + 1
    assert len(slots) == span, (
        f"{span - len(slots)} slot(s) missing between {slots[0]} and {slots[-1]}"
    )


@pytest.mark.postgres
def test_three_replicas_fire_each_slot_once_and_agree_within_a_second(
    replicas: tuple[list[Replica], FakeEngine], postgres_url: str
) -> None:
    (a, b, c), engine = replicas
    body = {"cron_expression": "* * * * * *", "workflow_id": "wf-replicas"}
    schedule_id = a.client.post("/api/v1/schedules", json=body).json()["schedule_id"]
    wait_until(lambda: all(r.jobs() == 1 for r in (a, b, c)), timeout=PROPAGATION)

    time.sleep(RUN_SECONDS)
    b.process.kill()
    killed_at = datetime.now(UTC)
    time.sleep(5)
    slots = claimed_slots(postgres_url, schedule_id)
    assert_every_second_once(slots)
    assert len(slots) >= RUN_SECONDS + 4
    assert slots[-1] > killed_at + timedelta(seconds=3)  # the survivors kept going
    fired = {r.name: r.metric("highway_cron_fires_total", 'kind="on_time"') for r in (a, c)}
    lost = {r.name: r.metric("highway_cron_skipped_total", 'reason="lost_claim"') for r in (a, c)}
    assert sum(lost.values()) > 0, "the survivors never raced for a slot"
    print(f"{len(slots)} slots; fired by a and c: {fired}; claims they lost: {lost}")

    paused_at = time.monotonic()
    assert c.client.post(f"/api/v1/schedules/{schedule_id}/pause").status_code == 200
    pause_done = datetime.now(UTC)
    wait_until(
        lambda: a.jobs() == c.jobs() == 0, timeout=PROPAGATION - (time.monotonic() - paused_at)
    )
    time.sleep(1.5)
    assert claimed_slots(postgres_url, schedule_id)[-1] <= pause_done

    resumed_at = time.monotonic()
    assert a.client.post(f"/api/v1/schedules/{schedule_id}/resume").status_code == 200
    wait_until(
        lambda: a.jobs() == c.jobs() == 1, timeout=PROPAGATION - (time.monotonic() - resumed_at)
    )
    wait_until(
        lambda: claimed_slots(postgres_url, schedule_id)[-1] > pause_done + timedelta(seconds=1.5)
    )

    deleted_at = time.monotonic()
    assert c.client.delete(f"/api/v1/schedules/{schedule_id}").status_code == 204
    delete_done = datetime.now(UTC)
    wait_until(
        lambda: a.jobs() == c.jobs() == 0, timeout=PROPAGATION - (time.monotonic() - deleted_at)
    )
    time.sleep(1.5)
    final = claimed_slots(postgres_url, schedule_id)
    assert final[-1] <= delete_done
    assert not [s for s, n in Counter(final).items() if n > 1]

    # the engine got one start per claimed slot (a killed replica's leased rows included)
    def started() -> set[str]:
        prefix = f"start:{schedule_id}:cron:{schedule_id}:"
        return {k.removeprefix(prefix) for k in engine.accepted() if k and k.startswith(prefix)}

    wait_until(lambda: len(started()) == len(final), timeout=10)
    assert started() == {iso_utc(slot) for slot in final}
