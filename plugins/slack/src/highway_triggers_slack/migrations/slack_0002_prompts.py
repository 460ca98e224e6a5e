"""The Slack plugin's prompts: messages with buttons posted for waiting runs.

Revision ID: slack_0002
Revises: slack_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import UtcDateTime

revision: str = "slack_0002"
down_revision: str | Sequence[str] | None = "slack_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_prompts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("workflow_run_id", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("wait_id", sa.String(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("ts", sa.String(), nullable=False),
        sa.Column("thread_ts", sa.String(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("answered_at", UtcDateTime(), nullable=True),
        sa.Column("answered_by", sa.String(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token", name="uq_slack_prompts_token"),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name="uq_slack_prompts_idempotency_key"
        ),
    )
    op.create_index("ix_slack_prompts_created_at", "slack_prompts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_prompts_created_at", table_name="slack_prompts")
    op.drop_table("slack_prompts")
