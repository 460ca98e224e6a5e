"""Payloads are kept as written: on PostgreSQL the ``payload`` columns of ``dispatches`` and
``early_events`` become ``json`` (JSONB reorders keys and rewrites numbers). Rows written
before keep what JSONB made of them. SQLite stores JSON text already.

Revision ID: 0008_exact_payloads
Revises: 0007_plugin_api
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_exact_payloads"
down_revision: str | Sequence[str] | None = "0007_plugin_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("dispatches", "early_events")


def upgrade() -> None:
    _payload_type(postgresql.JSON(), "json")


def downgrade() -> None:
    _payload_type(postgresql.JSONB(), "jsonb")


def _payload_type(type_: postgresql.JSON, name: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.alter_column(table, "payload", type_=type_, postgresql_using=f"payload::text::{name}")
