"""The plugin's table (created by its ``migrations``)."""

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text

from highway_triggers.plugin import UtcDateTime

metadata = MetaData()

EVENTS = Table(
    "github_webhook_events",
    metadata,
    Column("delivery_id", String, primary_key=True),  # X-GitHub-Delivery
    Column("event", String, nullable=False),  # X-GitHub-Event
    Column("action", String, nullable=True),
    Column("repository", String, nullable=True),  # full_name, as sent
    Column("repository_id", BigInteger, nullable=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("payload", Text, nullable=False),  # the body, byte for byte as GitHub sent it
    Column("processed_at", UtcDateTime, nullable=False, index=True),
)
"""Verified deliveries, kept ``HIGHWAY_GITHUB_EVENT_RETENTION_HOURS`` for inspection."""
