"""``APPROVAL`` triggers: start a workflow when an approval of its tenant is decided."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from highway_triggers import BaseTrigger, Event, TriggerConfig

SUBTYPE = "APPROVAL"
Status = Literal["approved", "rejected", "expired"]


class ApprovalConfig(TriggerConfig):
    statuses: list[Status] = Field(
        default=["approved", "rejected", "expired"], min_length=1, max_length=3
    )
    """The outcomes that start the workflow."""


class ApprovalTrigger(BaseTrigger):
    """Takes every decided approval of its tenant whose status is in ``statuses``; the
    run starts with the outcome the waiting run resumes with."""

    subtype = SUBTYPE
    Config = ApprovalConfig

    @classmethod
    def matches(cls, config: ApprovalConfig, event: Event) -> bool:
        return event.payload.get("status") in config.statuses

    @classmethod
    def mismatch(cls, config: ApprovalConfig, event: Event) -> str | None:
        status = event.payload.get("status")
        return None if status in config.statuses else f"status {status!r} is not in statuses"
