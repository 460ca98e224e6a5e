"""highway-triggers-dbos: the ``dbos`` engine, which enqueues DBOS workflows and sends
events to the ones waiting in ``DBOS.recv``."""

from __future__ import annotations

from highway_triggers import hookimpl
from highway_triggers_dbos.engine import DbosEngine


@hookimpl
def highway_engines() -> dict[str, type]:
    return {"dbos": DbosEngine}
