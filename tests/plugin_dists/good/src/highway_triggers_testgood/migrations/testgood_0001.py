"""The TESTGOOD plugin's own table, on its own branch.

Revision ID: testgood_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "testgood_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("highway_triggers_testgood",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "testgood_channels",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("testgood_channels")
