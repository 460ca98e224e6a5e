"""Plain-text tables for the command line: a header row, then one row per item, in columns
aligned by padding; empty values show as ``-``, lists and objects as JSON, on one line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

GAP = "  "


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``rows`` under ``columns``, each a ``(HEADER, key)`` pair."""
    lines = [[header for header, _ in columns]]
    lines += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _cell(value: Any) -> str:
    shown = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    return "-" if value is None or value == "" else " ".join(shown.split())
