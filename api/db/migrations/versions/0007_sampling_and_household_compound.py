"""random review samples carry their share; household days count for the household's compound

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("flag_sample", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("sample_share", sa.Float(), nullable=True))
    # a household's days belong to the household's own compound, wherever it dropped off
    op.execute(
        "UPDATE household_days SET compound_id = (SELECT households.compound_id FROM households "
        "WHERE households.id = household_days.household_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("sample_share")
        batch_op.drop_column("flag_sample")
