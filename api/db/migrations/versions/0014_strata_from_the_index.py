"""the statistics' strata read from the index alone: `ix_events_compound_day` also holds every
column the audit-corrected statistics group by (an index-only scan of a compound-month reads a
few index pages instead of one table page per drop-off)

On a large PostgreSQL database this rebuilds the index on every partition while writes wait;
there, create it per partition with CREATE INDEX CONCURRENTLY first (same columns) and attach.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# api/db/models.py: Event.__table_args__ (key columns, so SQLite's index covers them too)
STRATA = ["category", "model_version", "verdict", "final_verdict", "reviewed", "audit",
          "flag_sample", "sample_share", "id"]  # fmt: skip


def upgrade() -> None:
    op.drop_index("ix_events_compound_day", table_name="events")
    op.create_index("ix_events_compound_day", "events", ["compound_id", "day", *STRATA])


def downgrade() -> None:
    op.drop_index("ix_events_compound_day", table_name="events")
    op.create_index("ix_events_compound_day", "events", ["compound_id", "day"])
