"""The plugin API's tables: leases, used signed links, and the owner of a wait.

Revision ID: 0007_plugin_api
Revises: 0006_trigger_template
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from highway_triggers.db.columns import UtcDateTime

revision: str = "0007_plugin_api"
down_revision: str | Sequence[str] | None = "0006_trigger_template"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "used_links",
        sa.Column("link_id", sa.String(), primary_key=True),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False, index=True),
    )
    with op.batch_alter_table("waits") as batch:
        batch.add_column(sa.Column("owner", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("waits") as batch:
        batch.drop_column("owner")
    op.drop_table("used_links")
    op.drop_table("leases")
