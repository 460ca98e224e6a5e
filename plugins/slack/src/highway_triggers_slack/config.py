"""A SLACK trigger's config: the workspace, what it takes, its filters and its secrets."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from highway_triggers import TriggerConfig

WORKSPACE_PATTERN = r"^[TE][A-Z0-9]{2,31}$"
CHANNEL_PATTERN = r"^[CGD][A-Z0-9]{2,31}$"
USER_PATTERN = r"^[UWB][A-Z0-9]{2,31}$"
TYPE_PATTERN = r"^[a-z_]{1,64}$"
COMMAND_PATTERN = r"^/[a-z0-9_.-]{1,31}$"
DEFAULT_EVENT_TYPES = ("message",)
MAX_PATTERN_LENGTH = 1024

Secret = Annotated[str, Field(min_length=1, max_length=4096)]
Listed = Field(min_length=1, max_length=256)
Types = Annotated[tuple[Annotated[str, Field(pattern=TYPE_PATTERN)], ...], Listed]
Commands = Annotated[tuple[Annotated[str, Field(pattern=COMMAND_PATTERN)], ...], Listed]
Channels = Annotated[tuple[Annotated[str, Field(pattern=CHANNEL_PATTERN)], ...], Listed]
Users = Annotated[tuple[Annotated[str, Field(pattern=USER_PATTERN)], ...], Listed]


class SlackConfig(TriggerConfig):
    """A SLACK trigger: which workspace, which events or commands, which of them (see the
    README)."""

    workspace_id: Annotated[str, Field(pattern=WORKSPACE_PATTERN)] | None = None
    """Slack's ``team_id``; unset: every workspace whose requests verify."""
    event_types: Types | None = None
    """Events API event types (``message``, ``app_mention`` …) and interaction types
    (``block_actions``) taken; default ``["message"]``, none when ``commands`` is given."""
    commands: Commands | None = None
    """Slash commands taken (``/deploy``)."""
    channels: Channels | None = None
    """Channel ids; ``#names`` are resolved to ids at deploy."""
    users: Users | None = None
    """User ids whose messages, clicks and commands are taken."""
    ignore_bots: bool = True
    """Skip what bots post (a ``bot_id``, or subtype ``bot_message``)."""
    mention_required: bool = False
    """Take only text that mentions the bot (``<@U…>``)."""
    bot_user_id: Annotated[str, Field(pattern=USER_PATTERN)] | None = None
    """The bot's user id for ``mention_required``; unset: the event's ``authorizations``."""
    thread_only: bool = False
    """Take only replies in a thread."""
    ignore_edits: bool = True
    """Skip ``message_changed``, ``message_deleted`` and ``message_replied`` notices."""
    text_pattern: re.Pattern[str] | None = None
    """A regular expression the text must contain a match of."""
    signing_secret: Secret | None = None
    """The Slack app's signing secret (stored sealed); without one,
    ``HIGHWAY_SLACK_SIGNING_SECRET`` verifies this trigger's requests."""
    signing_secrets: Annotated[list[Secret], Field(max_length=16)] = []
    """More signing secrets accepted during a rotation."""

    @property
    def taken_types(self) -> tuple[str, ...]:
        """The event and interaction types taken (``event_types`` or its default)."""
        if self.event_types is not None:
            return tuple(self.event_types)
        return () if self.commands else DEFAULT_EVENT_TYPES

    @property
    def own_secrets(self) -> list[str]:
        """The trigger's own signing secrets (sealed), current first."""
        return ([self.signing_secret] if self.signing_secret else []) + list(self.signing_secrets)

    @field_validator("text_pattern", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) > MAX_PATTERN_LENGTH:
            raise ValueError(f"a text_pattern has at most {MAX_PATTERN_LENGTH} characters")
        return value
