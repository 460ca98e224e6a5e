"""The stored requests (``slack_events``, kept by the core's ``DeliveryArchive``): the row
of one request."""

from __future__ import annotations

from typing import Any


def request_row(data: dict[str, Any], body: bytes, retry_num: int | None) -> dict[str, Any]:
    """The archive row of a request: what it is, where from, the body as sent."""
    return {
        "delivery_id": data["delivery_id"],
        "kind": data["kind"],
        "type": data["type"],
        "team_id": data["team"],
        "channel_id": data["channel"],
        "user_id": data["user"],
        "retry_num": retry_num,
        "payload": body.decode(),
    }
