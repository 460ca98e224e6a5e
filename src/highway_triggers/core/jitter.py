"""Deterministic jitter, so that many schedules on one expression do not fire at once."""

import hashlib


def hash_jitter(key: str, max_seconds: float) -> float:
    """A stable delay in ``[0, max_seconds)`` derived from ``key`` (e.g. a trigger id).

    The same key always gives the same delay, on every replica and after restarts.
    """
    if max_seconds <= 0:
        return 0.0
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    fraction = (int.from_bytes(digest, "big") >> 11) / 2**53  # 53 bits: exact, always < 1
    return fraction * max_seconds
