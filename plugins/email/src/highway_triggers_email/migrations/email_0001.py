"""The email plugin's mailbox cursors.

Revision ID: email_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.plugin import UtcDateTime

revision: str = "email_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_email",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_cursors",
        sa.Column("mailbox_id", sa.String(), nullable=False),
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_internal_date", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_id"),
    )


def downgrade() -> None:
    op.drop_table("email_cursors")
