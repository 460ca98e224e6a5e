"""The plugin's table (created by its ``migrations``)."""

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from highway_triggers.plugin import UtcDateTime

metadata = MetaData()

EVENTS = Table(
    "slack_events",
    metadata,
    Column("delivery_id", String, primary_key=True),  # event_id, or an interaction's derived id
    Column("kind", String, nullable=False),  # event, interaction, command
    Column("type", String, nullable=True),  # message, block_actions, slash_command …
    Column("team_id", String, nullable=True),
    Column("channel_id", String, nullable=True),
    Column("user_id", String, nullable=True),
    Column("retry_num", Integer, nullable=True),  # X-Slack-Retry-Num of the attempt stored
    Column("payload", Text, nullable=False),  # the body, byte for byte as Slack sent it
    Column("processed_at", UtcDateTime, nullable=False, index=True),
)
"""Verified requests, kept ``HIGHWAY_SLACK_EVENT_RETENTION_HOURS`` for inspection."""
