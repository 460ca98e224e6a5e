"""Early events: events kept for a lookback window in case their wait is registered late.

Revision ID: 0004_early_events
Revises: 0003_templates
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.db.columns import JSONType, UtcDateTime

revision: str = "0004_early_events"
down_revision: str | Sequence[str] | None = "0003_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "early_events",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("event_name", sa.String(), nullable=False),
        sa.Column("correlation_key", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("consumed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_early_events_key", "early_events", ["tenant_id", "event_name", "correlation_key"]
    )
    op.create_index("ix_early_events_expires_at", "early_events", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_early_events_expires_at", table_name="early_events")
    op.drop_index("ix_early_events_key", table_name="early_events")
    op.drop_table("early_events")
