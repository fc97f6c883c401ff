"""a public report's key: sent by the residents' page with every try of one report (a retry on a
weak network stores it once) and the source of the reference code shown to the resident

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("key", sa.String(length=32), nullable=True))
    op.create_index("ix_reports_key", "reports", ["key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_reports_key", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("key")
