"""The plugin's tables (created by its ``migrations``)."""

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, UniqueConstraint

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

PROMPTS = Table(
    "slack_prompts",
    metadata,
    Column("id", String, primary_key=True),  # the prompt_id, the actions block's block_id
    Column("token", String, nullable=False),  # its wait's, in the button values
    Column("tenant_id", String, nullable=False),
    Column("workflow_run_id", String, nullable=False),
    Column("idempotency_key", String, nullable=True),
    Column("wait_id", String, nullable=False),
    Column("team_id", String, nullable=True),
    Column("channel_id", String, nullable=False),
    Column("ts", String, nullable=False),  # the posted message's
    Column("thread_ts", String, nullable=True),  # the thread it was posted in, if any
    Column("expires_at", UtcDateTime, nullable=True),  # its wait's
    Column("answered_at", UtcDateTime, nullable=True),
    Column("answered_by", String, nullable=True),  # the user id who clicked
    Column("answer", Text, nullable=True),  # the clicked button's value
    Column("created_at", UtcDateTime, nullable=False, index=True),
    UniqueConstraint("token", name="uq_slack_prompts_token"),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_slack_prompts_idempotency_key"),
)
"""Prompts posted for waiting runs: the first click on one of its buttons answers it."""
