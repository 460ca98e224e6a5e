"""Filter expressions: ``{"dotted.path": exact value or glob}``, all must hold."""

from fnmatch import fnmatchcase
from typing import Any

_MISSING = object()
_GLOB_CHARS = frozenset("*?[")


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``), or a sentinel when it is absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def matches_filter(expression: dict[str, Any], data: Any) -> bool:
    """True when every path holds its value; a string with ``*``, ``?`` or ``[`` is a glob."""
    for path, expected in expression.items():
        actual = lookup(data, path)
        if actual is _MISSING:
            return False
        if isinstance(expected, str) and _GLOB_CHARS.intersection(expected):
            if not isinstance(actual, str) or not fnmatchcase(actual, expected):
                return False
        elif actual != expected:
            return False
    return True
