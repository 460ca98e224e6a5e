"""``hash_jitter``: a stable delay per key, the same in every process, spread evenly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import pytest

from highway_triggers.core import jitter
from highway_triggers.core.jitter import hash_jitter

KEYS = [f"trigger-{i}" for i in range(1000)]


def test_same_key_same_value_across_calls() -> None:
    first = [hash_jitter(k, 30) for k in KEYS]
    assert [hash_jitter(k, 30) for k in KEYS] == first
    assert len(set(first)) > 990, "different keys should give (almost always) different delays"


def test_same_key_same_value_in_another_process() -> None:
    keys = KEYS[:50] + ["", "ü-unicode-🙂", "x" * 1000]
    script = (
        "import json, sys\n"
        "from highway_triggers.core.jitter import hash_jitter\n"
        "keys = json.loads(sys.stdin.read())\n"
        "print(json.dumps([hash_jitter(k, 30.0) for k in keys]))\n"
    )
    # a different str hash seed: the delay must not depend on Python's hash()
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == [hash_jitter(k, 30.0) for k in keys]


@pytest.mark.parametrize("max_seconds", [0.001, 1, 30, 59.5, 3600, 86_400.0])
def test_within_zero_and_max(max_seconds: float) -> None:
    values = [hash_jitter(k, max_seconds) for k in KEYS]
    assert all(isinstance(v, float) for v in values)
    assert all(0 <= v < max_seconds for v in values)


@pytest.mark.parametrize("max_seconds", [0, 0.0, -1, -30.5])
def test_zero_without_a_positive_max(max_seconds: float) -> None:
    assert hash_jitter("trigger-1", max_seconds) == 0.0
    assert hash_jitter("", max_seconds) == 0.0


def test_the_largest_digest_stays_below_max(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a digest of all ones (2**64 - 1) must give a delay strictly below the max."""

    class AllOnes:
        def __init__(self, data: bytes, digest_size: int) -> None:
            self.size = digest_size

        def digest(self) -> bytes:
            return b"\xff" * self.size

    monkeypatch.setattr(jitter, "hashlib", SimpleNamespace(blake2b=AllOnes))
    for max_seconds in (1, 30, 59.5, 3600):
        assert 0 <= hash_jitter("any", max_seconds) < max_seconds


def test_spreads_evenly_over_the_range() -> None:
    """1,000 keys over 30 s: every 3-second bucket gets roughly its tenth."""
    buckets = Counter(int(hash_jitter(k, 30) // 3) for k in KEYS)
    assert set(buckets) == set(range(10))
    assert all(50 <= n <= 150 for n in buckets.values()), buckets


def test_spreads_similar_keys() -> None:
    """Keys that differ in one character (uuid-like ids) are not clustered."""
    keys = [f"0b4f2c1e9d7a4e3f8c6b5a4d3e2f1{i:03x}" for i in range(1000)]
    buckets = Counter(int(hash_jitter(k, 30) // 3) for k in keys)
    assert all(50 <= buckets[b] <= 150 for b in range(10)), buckets
