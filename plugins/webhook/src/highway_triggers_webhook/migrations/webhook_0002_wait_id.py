"""The id of each per-run webhook's wait, stored with its registration.

Registrations made before this revision have none (``NULL``): their waits have no owner
and are resumed as before.

Revision ID: webhook_0002
Revises: webhook_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "webhook_0002"
down_revision: str | Sequence[str] | None = "webhook_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_registrations", sa.Column("wait_id", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_registrations") as batch:
        batch.drop_column("wait_id")
