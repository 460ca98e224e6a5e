"""The Google Calendar plugin's sync tokens, ``starting`` claims and push channels.

Revision ID: gcal_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import UtcDateTime

revision: str = "gcal_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_gcal",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gcal_sync",
        sa.Column("trigger_id", sa.String(), nullable=False),
        sa.Column("calendar_id", sa.String(), nullable=False),
        sa.Column("sync_token", sa.String(), nullable=True),
        sa.Column("synced_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("trigger_id"),
    )
    op.create_table(
        "gcal_starts",
        sa.Column("trigger_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("start_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("trigger_id", "event_id", "start_at"),
    )
    op.create_table(
        "gcal_channels",
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("trigger_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("resource_id", sa.String(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id"),
    )
    op.create_index("ix_gcal_channels_trigger_id", "gcal_channels", ["trigger_id"])


def downgrade() -> None:
    op.drop_index("ix_gcal_channels_trigger_id", table_name="gcal_channels")
    op.drop_table("gcal_channels")
    op.drop_table("gcal_starts")
    op.drop_table("gcal_sync")
