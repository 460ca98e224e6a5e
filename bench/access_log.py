"""CPU per request of the request log: its access line, and the middleware around it.

    uv run --all-packages python bench/access_log.py [--count 50000]

Logging is configured as ``serve`` configures it (text, then JSON), writing to
/dev/null. Prints, per format:

1. one access line: the ``logger.info`` call the request log makes, with a request id
   and an event id set (as after an event was routed);
2. what the middleware adds to a request (an ASGI app that answers at once, called in a
   loop): with the access log on, and off (``HIGHWAY_ACCESS_LOG=false``: request id,
   echo header, context variables only).

Each figure is the best of five runs, in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import timeit
from collections.abc import Callable
from typing import Any

from highway_triggers.core.correlation import EVENT_ID, REQUEST_ID
from highway_triggers.core.ipfilter import Networks
from highway_triggers.core.request_log import RequestLog
from highway_triggers.core.tracing import Tracing
from highway_triggers.logs import ACCESS_FORMAT, ACCESS_LOGGER, configure_logging
from highway_triggers.settings import Settings

REPEAT = 5
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/api/v1/events/bench",
    "raw_path": b"/api/v1/events/bench",
    "query_string": b"",
    "headers": [
        (b"host", b"127.0.0.1:8003"),
        (b"user-agent", b"wrk"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + b"x" * 150),
        (b"idempotency-key", b"key-0123456789"),
        (b"content-length", b"1000"),
    ],
    "client": ("127.0.0.1", 50000),
}


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def send(message: Any) -> None:
    return None


def best_us(run: Callable[[], Any], count: int) -> float:
    """Microseconds per call of ``run``, the best of :data:`REPEAT` runs of ``count``."""
    return min(timeit.repeat(run, number=count, repeat=REPEAT)) / count * 1e6


def served_us(app: Any, count: int) -> float:
    """Microseconds per request of ``app``, the best of :data:`REPEAT` loops of ``count``."""

    async def loop() -> None:
        for _ in range(count):
            await app(SCOPE, receive, send)

    return min(timeit.repeat(lambda: asyncio.run(loop()), number=1, repeat=REPEAT)) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50_000)
    count = parser.parse_args().count
    access = logging.getLogger(ACCESS_LOGGER)
    fields = ("POST", "/api/v1/events/bench", 202, 0.842, "127.0.0.1")
    with open("/dev/null", "w") as devnull:
        for log_format in ("text", "json"):
            configure_logging(Settings(log_format=log_format), devnull)
            request, event = REQUEST_ID.set("4f1c2a9be03d-1a"), EVENT_ID.set("0192f0c3-1111")
            line = best_us(lambda: access.info(ACCESS_FORMAT, *fields), count)
            EVENT_ID.reset(event)
            REQUEST_ID.reset(request)
            bare = served_us(answer, count)
            added = {
                on: served_us(
                    RequestLog(answer, access_log=on, tracing=Tracing(), trusted=Networks([])),
                    count,
                )
                - bare
                for on in (True, False)
            }
            print(
                f"{log_format}: access line {line:.1f} µs; the middleware adds"
                f" {added[True]:.1f} µs per request with the access log, {added[False]:.1f} µs"
                " without"
            )


if __name__ == "__main__":
    main()
