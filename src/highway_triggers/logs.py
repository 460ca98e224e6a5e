"""Logging: text or JSON lines, and secrets redacted from every record."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from highway_triggers.settings import Settings

SECRET_PATTERNS = re.compile(
    r"(?i)(bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?"
    r"|whsec_|whpk_|hwk_|(?:secret|token|password)[\"']?\s*[:=]\s*[\"']?|://[^/\s:@]+:)[^\s\"',}@]+"
)


def redact(text: str) -> str:
    """Hide bearer tokens, API keys and secret values in a log line."""
    return SECRET_PATTERNS.sub(lambda m: m.group(1) + "[REDACTED]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure_logging(settings: Settings) -> None:
    """Configure the ``highway_triggers`` logger tree once per process."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("highway_triggers", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(settings.log_level.upper())
        logger.propagate = False
