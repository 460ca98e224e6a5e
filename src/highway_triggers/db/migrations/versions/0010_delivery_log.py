"""The delivery log: what became of each event that reached routing or was refused at
the door (``GET /api/v1/deliveries``).

Revision ID: 0010_delivery_log
Revises: 0009_dispatch_traceparent
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.db.columns import UtcDateTime

revision: str = "0010_delivery_log"
down_revision: str | Sequence[str] | None = "0009_dispatch_traceparent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_log",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=True),
        sa.Column("tenant_id", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("resumed", sa.Integer(), nullable=False),
        sa.Column("duplicate_of", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("targets", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("delivery_log")
