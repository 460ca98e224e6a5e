"""Row and event ids."""

import random
import time


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
