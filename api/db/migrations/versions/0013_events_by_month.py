"""events partitioned by month on PostgreSQL (the table converted in place, rows and ids kept);
queue items and reviews carry their event's day, so their references hold on the partitioned
table; retired months (exported, then dropped) and what the statistics keep of them; an index for
a station's newest drop-offs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 16:10:00
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EVENT_FOREIGN_KEYS = {
    "events_bin_id_fkey": ("bin_id", "bins"),
    "events_compound_id_fkey": ("compound_id", "places"),
    "events_device_id_fkey": ("device_id", "devices"),
    "events_household_id_fkey": ("household_id", "households"),
    "events_station_id_fkey": ("station_id", "places"),
}
EVENT_INDEXES = {
    "ix_events_appeal_key": "appeal_key",
    "ix_events_compound_day": "compound_id, day",
    "ix_events_household_day": "household_id, day",
}


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _months(first: date, last: date) -> list[date]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = _next_month(month)
    return out


def _partition_events() -> None:
    """Rename the table, create the partitioned one with a partition per month that holds rows
    (and last month, this month and the next two) plus a default one, copy the rows with their
    ids, then build the keys and indexes on the parent (each partition gets its own)."""
    bind = op.get_bind()
    for table in ("queue_items", "reviews"):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_event_id_fkey")
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute(
        "CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (day)"
    )
    today = bind.execute(sa.text("SELECT CURRENT_DATE")).scalar_one()
    first, last = bind.execute(sa.text("SELECT MIN(day), MAX(day) FROM events_unpartitioned")).one()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    ahead = _months(last_month, _next_month(_next_month(today.replace(day=1))))
    months = sorted(set(_months(first, last) if first else []) | set(ahead))
    for month in months:
        op.execute(
            f"CREATE TABLE events_{month:%Y_%m} PARTITION OF events "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next_month(month).isoformat()}')"
        )
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    op.execute("INSERT INTO events SELECT * FROM events_unpartitioned")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("DROP TABLE events_unpartitioned")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id, day)")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_event_id_key UNIQUE (event_id, day)")
    for name, columns in EVENT_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON events ({columns})")
    for name, (column, target) in EVENT_FOREIGN_KEYS.items():
        op.execute(
            f"ALTER TABLE events ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {target} (id)"
        )
    for table in ("queue_items", "reviews"):
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_event_fkey FOREIGN KEY "
            "(event_id, event_day) REFERENCES events (id, day)"
        )


def upgrade() -> None:
    for table in ("queue_items", "reviews"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("event_day", sa.Date(), nullable=True))
        op.execute(
            f"UPDATE {table} SET event_day = "
            f"(SELECT events.day FROM events WHERE events.id = {table}.event_id) "
            "WHERE event_id IS NOT NULL"
        )
    op.create_table(
        "retired_months",
        sa.Column("month", sa.String(length=7), primary_key=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("export_key", sa.String(length=200), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "retired_strata",
        sa.Column("id", ID, primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("compound_id", ID, sa.ForeignKey("places.id"), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("final_verdict", sa.String(length=16), nullable=False),
        sa.Column("decided", sa.Boolean(), nullable=False),
        sa.Column("audit", sa.Boolean(), nullable=False),
        sa.Column("flag_sample", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("w2", sa.Float(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
    )
    op.create_index("ix_retired_strata_compound_day", "retired_strata", ["compound_id", "day"])
    if op.get_bind().dialect.name == "postgresql":
        _partition_events()
    # the newest drop-offs of a station (the drift gauges) without a scan
    op.create_index("ix_events_station_captured", "events", ["station_id", "captured_at"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        raise NotImplementedError("events stay partitioned; restore a backup to go back")
    op.drop_index("ix_events_station_captured", table_name="events")
    op.drop_index("ix_retired_strata_compound_day", table_name="retired_strata")
    op.drop_table("retired_strata")
    op.drop_table("retired_months")
    for table in ("queue_items", "reviews"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("event_day")
