"""Logging: text or JSON lines, secrets redacted from every record, and the request and
event each record is about (``request_id``, ``event_id``) when there is one."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from highway_triggers.core.correlation import EVENT_ID, REQUEST_ID
from highway_triggers.settings import Settings

CONFIGURED_LOGGERS = ("highway_triggers", "uvicorn.error")
"""The logger trees :func:`configure_logging` sets up (uvicorn's own records included)."""
ACCESS_LOGGER = "highway_triggers.access"
ACCESS_FORMAT = "%s %s %d %.3fms %s"
"""The access line of a request: one record, these fields as its arguments."""
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "client")
"""The access line's arguments by name: the JSON lines' fields."""

SECRET_PATTERNS = re.compile(
    r"(?i)(bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?"
    r"|whsec_|whpk_|hwk_|(?:secret|token|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}@]+"
    # a URL's password, scheme://user:password@host; not the port of scheme://host:port/path
    r"|(://[^/\s:@]+:)[^\s/?#@]+(?=@)"
)
SECRET_MARKERS = (
    "bearer", "authorization", "whsec_", "whpk_", "hwk_", "secret", "token", "password", "://",
)  # fmt: skip
"""What every match of :data:`SECRET_PATTERNS` contains, lower-cased (in ASCII text)."""


def redact(text: str) -> str:
    """Hide bearer tokens, API keys, secret values and URL passwords in a log line.

    ASCII text holding none of :data:`SECRET_MARKERS` is returned as it is, without the
    pattern (which takes microseconds per line, and every line goes through it).
    """
    if text.isascii():
        lowered = text.lower()
        for marker in SECRET_MARKERS:
            if marker in lowered:
                break
        else:  # no marker: nothing to hide
            return text
    return SECRET_PATTERNS.sub(lambda m: (m[1] or m[2]) + "[REDACTED]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``event_id`` (``None`` outside a request or an event)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.event_id = EVENT_ID.get()
        return True


class TextFormatter(logging.Formatter):
    _second: tuple[int, str] = (-1, "")
    """The last second formatted, and its text (``strftime`` costs a microsecond a line)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            cached = self._second = (second, stamp)
        return f"{cached[1]},{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        if (request_id := getattr(record, "request_id", None)) is not None:
            line += f" request_id={request_id}"
        if (event_id := getattr(record, "event_id", None)) is not None:
            line += f" event_id={event_id}"
        return line

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
            entry.update(zip(ACCESS_FIELDS, record.args, strict=True))
        for name in ("request_id", "event_id"):
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        try:
            return orjson.dumps(entry).decode()  # a tenth of json.dumps's time
        except TypeError:  # what orjson refuses (lone surrogates, integers past 64 bits)
            return json.dumps(entry)


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines of one pass of the event loop at once.

    A line written on its own costs a write system call (standard error is line-buffered):
    on a busy gateway, most of what its access lines cost. Lines logged where no loop
    runs (a worker thread, the command line) flush what waits and go out at once, so the
    order holds; ``flush`` and ``close`` (at exit) write whatever still waits.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._flushing_on: asyncio.AbstractEventLoop | None = None
        """The loop a flush is scheduled on (lines wait for it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self.lock:  # type: ignore[union-attr]  # set by createLock
            self._lines.append(line)
            schedule = loop is not None and loop is not self._flushing_on
            if schedule:
                self._flushing_on = loop
        if loop is None:
            self.flush()
        elif schedule:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._lines, self._flushing_on = self._lines, [], None
            if lines:
                try:
                    self.stream.write("".join(lines))
                except (OSError, ValueError):  # a closed stream: logging never raises
                    return
            super().flush()


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Configure the ``highway_triggers`` logger tree once per process, writing to
    ``stream`` (default: standard error)."""
    # no record of the gateway shows where it was logged from, or the thread or process:
    # skipping them saves a stack walk and three lookups on every record (the access line
    # of every request included; the logging HOWTO's "Optimization")
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = BatchedStreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in CONFIGURED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(settings.log_level.upper())
        logger.propagate = False
