"""Type aliases shared across the core."""

from typing import Any

JSON = dict[str, Any]
"""A JSON object as decoded by the standard library."""

SUBTYPE_PATTERN = r"^[A-Z][A-Z0-9_]*$"
"""Trigger subtypes are upper-case names such as ``CRON`` or ``GOOGLE_CALENDAR``."""
