"""The slot claims of CRON triggers, on the plugin's own branch.

Revision ID: cron_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import UtcDateTime

revision: str = "cron_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_cron",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cron_claims",
        sa.Column("trigger_id", sa.String(), nullable=False),
        sa.Column("scheduled_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("trigger_id", "scheduled_at"),
    )
    op.create_index("ix_cron_claims_scheduled_at", "cron_claims", ["scheduled_at"])


def downgrade() -> None:
    op.drop_index("ix_cron_claims_scheduled_at", table_name="cron_claims")
    op.drop_table("cron_claims")
