"""The Slack plugin's table of verified requests.

Revision ID: slack_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import UtcDateTime

revision: str = "slack_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_slack",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_events",
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=True),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("retry_num", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_index("ix_slack_events_processed_at", "slack_events", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_events_processed_at", table_name="slack_events")
    op.drop_table("slack_events")
