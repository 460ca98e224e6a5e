"""The embedded recorder engine: idempotent by key, bounded in memory."""

import asyncio

import pytest

from highway_triggers.engines import recorder
from highway_triggers.engines.recorder import RecorderEngine
from highway_triggers.settings import Settings


def start(engine: RecorderEngine, key: str) -> str:
    return asyncio.run(
        engine.start(
            "wf", trigger_type="MANUAL", trigger_data={}, tenant_id=None, idempotency_key=key
        )
    )


def test_a_redelivered_start_gets_the_first_execution_id() -> None:
    engine = RecorderEngine(Settings())
    first = start(engine, "k1")
    assert start(engine, "k1") == first
    assert start(engine, "k2") != first
    assert [call.idempotency_key for call in engine.calls] == ["k1", "k2"]


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder, "RECENT_CALLS", 3)
    monkeypatch.setattr(recorder, "REMEMBERED_KEYS", 5)
    engine = RecorderEngine(Settings())
    ids = [start(engine, f"k{i}") for i in range(8)]
    assert [call.idempotency_key for call in engine.calls] == ["k5", "k6", "k7"]
    assert start(engine, "k7") == ids[7], "a recent key is still answered alike"
    assert start(engine, "k0") != ids[0], "the oldest keys were forgotten"


def test_a_resume_records_the_wait_it_resumes() -> None:
    engine = RecorderEngine(Settings())
    resume = engine.resume(
        "run-1",
        resume_data={"ok": True},
        interaction_id="w1",
        idempotency_key="resume:w1",
        event_name="reply",
        correlation_key="order-1",
    )
    asyncio.run(resume)
    (call,) = engine.calls
    assert (call.kind, call.execution_id) == ("resume", "run-1")
    assert call.data == {
        "resume_data": {"ok": True},
        "interaction_id": "w1",
        "event_name": "reply",
        "correlation_key": "order-1",
    }
