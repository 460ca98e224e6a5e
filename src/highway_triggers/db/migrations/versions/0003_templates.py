"""Workflow templates: a workflow definition and the JSON Schema its input must satisfy.

Revision ID: 0003_templates
Revises: 0002_wait_lifecycle
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.db.columns import JSONType, UtcDateTime

revision: str = "0003_templates"
down_revision: str | Sequence[str] | None = "0002_wait_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("workflow_definition", JSONType, nullable=False),
        sa.Column("input_schema", JSONType, nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="ux_templates_tenant_name"),
    )


def downgrade() -> None:
    op.drop_table("templates")
