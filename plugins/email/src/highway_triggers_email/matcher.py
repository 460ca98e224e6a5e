"""Phase 2: whether an EMAIL trigger takes a message, and if not, why (pure, no I/O)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from highway_triggers_email.config import EmailConfig


def mismatch(config: EmailConfig, data: dict[str, Any], attachment_count: int) -> str | None:
    """Why ``config`` does not take the message whose trigger data is ``data``; ``None``
    when it does. ``attachment_count``: the message's attachments, whether or not the
    trigger data lists them."""
    if config.from_ is not None:
        sender = (data["from"] or {}).get("address")
        if not _any_match(config.from_, [sender]):
            return f"from {sender!r} does not match {config.from_!r}"
    if config.to is not None:
        recipients = [r["address"] for r in (*data["to"], *data["cc"])]
        if not _any_match(config.to, recipients):
            return f"no recipient of {recipients[:5]!r} matches to {config.to!r}"
    if config.subject_pattern is not None and not config.subject_pattern.search(data["subject"]):
        return (
            f"subject {data['subject'][:200]!r} does not match {config.subject_pattern.pattern!r}"
        )
    if config.body_contains is not None:
        body = data["text"] if data["text"] is not None else data["html"] or ""
        if config.body_contains.casefold() not in body.casefold():
            return f"the body does not contain {config.body_contains!r}"
    if config.has_attachment is not None and config.has_attachment != (attachment_count > 0):
        found = f"{attachment_count} attachment(s)" if attachment_count else "no attachment"
        return f"has_attachment is {str(config.has_attachment).lower()}: the message has {found}"
    return None


def _any_match(pattern: str, addresses: list[str | None]) -> bool:
    """An address equals ``pattern`` or matches it as a glob, without regard to case."""
    wanted = pattern.lower()
    return any(a is not None and fnmatchcase(a.lower(), wanted) for a in addresses)
