"""Waits: why a wait was closed, and an index for finding expired open waits.

Revision ID: 0002_wait_lifecycle
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_wait_lifecycle"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_WITH_EXPIRY = sa.text("consumed_at IS NULL AND expires_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("waits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_reason", sa.String(), nullable=True))
        batch_op.create_index(
            "ix_waits_open_expiry",
            ["expires_at"],
            unique=False,
            sqlite_where=OPEN_WITH_EXPIRY,
            postgresql_where=OPEN_WITH_EXPIRY,
        )


def downgrade() -> None:
    with op.batch_alter_table("waits", schema=None) as batch_op:
        batch_op.drop_index("ix_waits_open_expiry")
        batch_op.drop_column("closed_reason")
