"""A stand-alone trigger may target a template: keep its name beside the workflow.

Revision ID: 0006_trigger_template
Revises: 0005_waits_by_key
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_trigger_template"
down_revision: str | Sequence[str] | None = "0005_waits_by_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_index") as batch:
        batch.add_column(sa.Column("template", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger_index") as batch:
        batch.drop_column("template")
