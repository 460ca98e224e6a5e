"""Waits: a run suspended until an event with its correlation key, or a hook with its
token, arrives — every part of them in one place.

- :mod:`.service`: register (by the engine, or by a plugin inside its own transaction),
  read and cancel;
- :mod:`.phase0`: claimed by the ingress transaction in phase 0 of routing;
- :mod:`.early`: events that came before their wait, kept for a lookback window;
- :mod:`.timeouts`: expired waits resume their run once with ``{"status": "timeout"}``.
"""

from highway_triggers.core.waits.service import (
    STATUSES,
    TEXT_MAX_LENGTH,
    TOKEN_MAX_LENGTH,
    TOKEN_PATTERN,
    WaitRequest,
    WaitService,
    is_token,
    status_of,
)

__all__ = [
    "STATUSES",
    "TEXT_MAX_LENGTH",
    "TOKEN_MAX_LENGTH",
    "TOKEN_PATTERN",
    "WaitRequest",
    "WaitService",
    "is_token",
    "status_of",
]
