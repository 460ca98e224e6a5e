"""The stored deliveries (``github_webhook_events``, kept by the core's ``DeliveryArchive``):
the row of one delivery."""

from __future__ import annotations

from typing import Any


def delivery_row(data: dict[str, Any], document: bytes) -> dict[str, Any]:
    """The archive row of a delivery: its headers and repository, and the JSON document as
    GitHub sent it (the body, or a form-encoded delivery's ``payload`` field)."""
    repository = data["repository"] or {}
    return {
        "delivery_id": data["delivery_id"],
        "event": data["event"],
        "action": data["action"],
        "repository": repository.get("full_name"),
        "repository_id": _integer(repository.get("id")),
        "installation_id": _integer(data["installation_id"]),
        "payload": document.decode(),
    }


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
