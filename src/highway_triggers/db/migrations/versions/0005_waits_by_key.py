"""Waits are found by correlation key or token: drop the tenant index, which SQLite's
planner preferred, scanning every open wait of a tenant per event.

Revision ID: 0005_waits_by_key
Revises: 0004_early_events
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_waits_by_key"
down_revision: str | Sequence[str] | None = "0004_early_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_waits_tenant_id", table_name="waits")


def downgrade() -> None:
    op.create_index("ix_waits_tenant_id", "waits", ["tenant_id"])
