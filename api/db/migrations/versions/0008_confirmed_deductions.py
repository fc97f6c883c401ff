"""household days count the deductions a supervisor confirmed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("household_days", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirmed", sa.Integer(), server_default="0", nullable=False)
        )
    # contaminated drop-offs whose verdict a standing review gave: deductions that stand
    op.execute(
        "UPDATE household_days SET confirmed = (SELECT COUNT(*) FROM events "
        "WHERE events.household_id = household_days.household_id "
        "AND events.day = household_days.day AND events.reviewed "
        "AND events.final_verdict = 'contaminated')"
    )


def downgrade() -> None:
    with op.batch_alter_table("household_days", schema=None) as batch_op:
        batch_op.drop_column("confirmed")
