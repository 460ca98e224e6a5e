"""The request and the event a log line is about, as context variables.

The request log sets :data:`REQUEST_ID` for each request; the router sets :data:`EVENT_ID`
when it names an event, and the dispatcher while it delivers that event's dispatch. The
log formatters add both to every record written meanwhile (see ``highway_triggers.logs``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("highway_request_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("highway_event_id", default=None)


@contextmanager
def about_event(event_id: str) -> Iterator[None]:
    """Log lines written inside the block name ``event_id``."""
    token = EVENT_ID.set(event_id)
    try:
        yield
    finally:
        EVENT_ID.reset(token)
