"""A GOOGLE_CALENDAR trigger's config: the calendar, the credentials, the changes taken
and their filters."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from highway_triggers import TriggerConfig
from highway_triggers.plugin import Printable

Change = Literal["created", "updated", "cancelled", "starting"]
CHANGES: tuple[Change, ...] = ("created", "updated", "cancelled", "starting")
MAX_PATTERN_CHARS = 1000
Url = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^https?://\S+$")]
Secret = Annotated[str, Field(min_length=1, max_length=16384)]
Text = Annotated[str, Field(min_length=1, max_length=320), Printable]


def _short_pattern(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern has at most {MAX_PATTERN_CHARS} characters")
    return value


class OAuthCredentials(BaseModel):
    """A user's OAuth client and refresh token (``client_secret`` and ``refresh_token``
    stored sealed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["oauth"]
    client_id: Text
    client_secret: Secret
    refresh_token: Secret
    token_uri: Url = "https://oauth2.googleapis.com/token"


class ServiceAccountCredentials(BaseModel):
    """A service account's key (``private_key`` stored sealed), optionally acting for
    ``subject`` (domain-wide delegation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["service_account"]
    client_email: Text
    private_key: Secret
    token_uri: Url = "https://oauth2.googleapis.com/token"
    subject: Text | None = None


Credentials = Annotated[OAuthCredentials | ServiceAccountCredentials, Field(discriminator="type")]


class GcalConfig(TriggerConfig):
    """A GOOGLE_CALENDAR trigger (see the README)."""

    calendar_id: Annotated[str, Field(min_length=1, max_length=1024), Printable]
    """The calendar (``primary``, an address, ``…@group.calendar.google.com``): the index key."""
    credentials: Credentials
    events: Annotated[list[Change], Field(min_length=1, max_length=4)] = ["created"]
    minutes_before: Annotated[float, Field(ge=0, le=40320)] = 10
    """For ``starting``: how long before an event's start it fires."""
    summary_pattern: Annotated[re.Pattern[str], BeforeValidator(_short_pattern)] | None = None
    """A regular expression searched for in the event's summary."""
    organizer: Text | None = None
    """The organizer's email address (without regard to case)."""
    attendee: Text | None = None
    """An attendee's email address (without regard to case)."""
    poll_interval_seconds: Annotated[float, Field(ge=1, le=86400)] = 60
    watch: bool = False
    """Ask for push notifications (``events.watch``) besides polling."""
