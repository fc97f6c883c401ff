"""failed sign-ins and public requests counted in the database (rate_hits); a device's previous
token kept for a grace period

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rate_hits",
        sa.Column("id", ID, nullable=False),
        sa.Column("bucket", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rate_hits_bucket_at", "rate_hits", ["bucket", "at"])
    op.create_index("ix_rate_hits_until", "rate_hits", ["until"])
    op.create_index("ix_session_tokens_expires_at", "session_tokens", ["expires_at"])
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("previous_token_hash", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_index("ix_devices_previous_token_hash", "devices", ["previous_token_hash"])
    # sessions were keyed differently before: everyone signs in again
    op.execute("DELETE FROM session_tokens")


def downgrade() -> None:
    op.drop_index("ix_devices_previous_token_hash", table_name="devices")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("previous_valid_until")
        batch.drop_column("previous_token_hash")
    op.drop_index("ix_session_tokens_expires_at", table_name="session_tokens")
    op.drop_index("ix_rate_hits_until", table_name="rate_hits")
    op.drop_index("ix_rate_hits_bucket_at", table_name="rate_hits")
    op.drop_table("rate_hits")
