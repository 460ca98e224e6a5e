"""Row and event ids."""

import random
import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = (1 << 64) - 1
"""The last nanosecond an id's 16 hex digits of time hold (in the year 2554)."""


def new_id() -> str:
    """A 128-bit id as 32 hex digits: nanosecond time, then 64 random bits.

    Ids that grow with time land at the right edge of B-tree indexes, so a batch of
    inserts touches a few pages instead of one random page per row. Ids are not
    secrets: the random part comes from the (urandom-seeded) Mersenne Twister, as
    ``os.urandom`` costs a system call per id.
    """
    return f"{time.time_ns():016x}{random.getrandbits(64):016x}"


def new_uuid() -> str:
    """:func:`new_id` in the 8-4-4-4-12 form of a UUID (event ids are shown to clients)."""
    h = new_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def first_id_at(moment: datetime) -> str:
    """The smallest :func:`new_uuid` id made at or after ``moment`` (an aware datetime):
    ids compare as their times do, so a time range is a range of ids."""
    nanoseconds = (moment - EPOCH) // timedelta(microseconds=1) * 1000
    h = f"{min(max(nanoseconds, 0), MAX_TIME):016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-0000-000000000000"
