"""Monthly partitions of `events` on PostgreSQL (migration 0013 made the table partitioned).

Each month is a partition `events_YYYY_MM` holding the days of that month; `events_default`
takes a drop-off whose month has no partition (a device clock years off, or a month nobody
created in time), so ingest never fails for want of one. `ensure_partitions` creates this
month's and the next ones' ahead of time; the service runs it at start and every few hours,
`binwatch db upgrade` and the event retention run it too; a month whose days sit in the
default partition (a backfill, a device back after months offline) gets its own partition and
those rows move into it. SQLite keeps one table; everything here is a no-op there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api.db.models import Event, RetiredMonth

log = logging.getLogger(__name__)
AHEAD = 2  # months created ahead of the current one
NAME = re.compile(r"^events_(\d{4})_(\d{2})$")
REFERRING = ("queue_items", "reviews")  # tables that refer to events by (event_id, event_day)
LOCK = 0x62696E77  # pg_advisory_xact_lock key: one process changes partitions at a time


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"events_{month:%Y_%m}"


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def partitions(session: Session) -> dict[date, str]:
    """The monthly partitions of `events` by their first day (PostgreSQL; {} on SQLite)."""
    if not is_postgres(session):
        return {}
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass"
        )
    )
    out = {}
    for name in names:
        found = NAME.match(name)
        if found:
            out[date(int(found[1]), int(found[2]), 1)] = name
    return out


def retired_through(session: Session) -> date | None:
    """The first day after the last retired month, or None when no month was retired."""
    last = session.scalar(select(func.max(RetiredMonth.month)))
    if last is None:
        return None
    year, month = map(int, last.split("-"))
    return next_month(date(year, month, 1))


def ensure_partitions(
    session: Session, today: date, ahead: int = AHEAD, since: date | None = None
) -> list[str]:
    """Create the partitions of last month, this month and the `ahead` next ones (every month from
    `since` on, for a bulk load), and of every month whose days sit in the default partition
    (moving them there), never one of a retired month; returns the names created. The caller
    commits."""
    if not is_postgres(session):
        return []
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
    have = partitions(session)
    retired = set(session.scalars(select(RetiredMonth.month)))
    stray = session.scalars(
        text("SELECT DISTINCT CAST(date_trunc('month', day) AS date) FROM events_default")
    )
    before = month_of(month_of(today) - timedelta(days=1))  # late drop-offs from last month
    wanted, month, last = set(stray), month_of(since or before), month_of(today)
    for _ in range(ahead):
        last = next_month(last)
    while month <= last:
        wanted.add(month)
        month = next_month(month)
    made = []
    for month in sorted(wanted):
        if month not in have and f"{month:%Y-%m}" not in retired:
            _create(session, month)
            made.append(partition_name(month))
    if made:
        log.info("created event partitions %s", ", ".join(made))
    return made


def _create(session: Session, month: date) -> None:
    """A month's partition; its days already in the default partition move into it. Queue
    items and reviews of those rows let go of the day while they move (a reference with a null
    part is not checked) and take it back once the rows are in place, in the same transaction."""
    name = partition_name(month)
    bounds = f"FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
    days = {"lo": month, "hi": next_month(month)}
    waiting = session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM events_default WHERE day >= :lo AND day < :hi)"), days
    )
    if not waiting:
        session.execute(text(f"CREATE TABLE {name} PARTITION OF events FOR VALUES {bounds}"))
        return
    for table in REFERRING:
        session.execute(
            text(f"UPDATE {table} SET event_day = NULL WHERE event_day >= :lo AND event_day < :hi"),
            days,
        )
    session.execute(text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)"))
    session.execute(
        text(
            "WITH moved AS (DELETE FROM events_default WHERE day >= :lo AND day < :hi "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        days,
    )
    session.execute(text(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES {bounds}"))
    for table in REFERRING:
        session.execute(
            text(
                f"UPDATE {table} t SET event_day = e.day FROM {name} e "
                "WHERE t.event_day IS NULL AND t.event_id = e.id"
            )
        )


def ensure_now(sessions: Any) -> list[str]:
    """`ensure_partitions` for today in a session of its own (the service every few hours,
    `binwatch db upgrade`); nothing on SQLite."""
    with sessions() as session:
        made = ensure_partitions(session, datetime.now(UTC).date())
        session.commit()
    return made


def events_by_id(
    session: Session, refs: Iterable[tuple[int, date | None]], fresh: bool = False
) -> dict[int, Event]:
    """The events that queue items or reviews refer to, by (id, day), in one query: the day
    lets PostgreSQL read only those months' partitions (by id alone it plans and probes every
    one). `fresh` re-reads rows the session already holds."""
    refs = [(i, d) for i, d in refs if i is not None]
    if not refs:
        return {}
    ids = {i for i, _ in refs}
    where = [Event.id.in_(ids)]
    days = {d for _, d in refs}
    if None not in days:
        where.append(Event.day.in_(days))
    stmt = select(Event).where(*where)
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return {e.id: e for e in session.scalars(stmt)}


def event_of(
    session: Session, event_id: int | None, day: date | None, fresh: bool = False
) -> Event | None:
    """One referred event (see `events_by_id`); None when there is none."""
    if event_id is None:
        return None
    return events_by_id(session, [(event_id, day)], fresh).get(event_id)
