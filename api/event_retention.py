"""Event retention: months of events older than `event_retention_months` are exported to the
object store (`exports/events/YYYY-MM.csv.gz`), then dropped — on PostgreSQL their partition is
detached and dropped, on SQLite the rows are deleted.

What the statistics need of a dropped month stays: the rollups and household days are
untouched, the audit-corrected estimates read the month's strata from `retired_strata` (frozen
here, per day and compound), reviews are kept with their verdicts, and queue items and reviews
lose their reference to the dropped event in the same transaction (never a dangling one; items
still open become `expired`). A month with an open appeal is not dropped: the appeal is decided
first. A dropped month is recorded in `retired_months`; ingest refuses drop-offs captured in it,
and a rebuild of the counters covers only the months after it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, insert, select, text, update
from sqlalchemy.orm import Session

from api.db.models import Event, QueueItem, RetiredMonth, RetiredStratum, Review
from api.db.partitions import (
    ensure_partitions,
    is_postgres,
    month_of,
    next_month,
    partitions,
)
from api.settings import Settings
from api.stats.queries import decided_by_review, sample_weight, standing_review
from api.storage import evidence_for, objects_for

log = logging.getLogger(__name__)
EVENTS = cast(Table, Event.__table__)


class RetentionError(RuntimeError):
    """A month cannot be retired yet (the message says why)."""


@dataclass(frozen=True)
class Retired:
    month: str
    events: int
    export_key: str
    evidence: int


def first_kept(today: date, months: int) -> date:
    """The first day of the oldest month kept: this month and the `months - 1` before it."""
    index = today.year * 12 + today.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def due_months(session: Session, before: date) -> list[date]:
    """Months with events on days before `before`, oldest first (PostgreSQL: every partition
    before it, empty or not)."""
    if is_postgres(session):
        months = {m for m in partitions(session) if m < before}
        stray = session.scalars(
            text("SELECT DISTINCT day FROM events_default WHERE day < :before"), {"before": before}
        )
        months |= {month_of(d) for d in stray}
        return sorted(months)
    months_of = func.strftime("%Y-%m-01", Event.day)  # SQLite: one table, a small one
    found = session.scalars(select(months_of).where(Event.day < before).distinct())
    return sorted(date.fromisoformat(m) for m in found)


def retire_events(
    session: Session, settings: Settings, today: date, dry_run: bool = False
) -> list[Retired]:
    """Retire every month before the retention window (none when no retention is set); commits
    each month on its own. `dry_run`: say which months, change nothing."""
    if settings.event_retention_months is None:
        return []
    before = first_kept(today, settings.event_retention_months)
    ensure_partitions(session, today)  # stray days in the default partition get their month's
    session.commit()
    months = due_months(session, before)
    if dry_run:
        return [Retired(f"{m:%Y-%m}", _count(session, m), _key(m), 0) for m in months]
    return [retire_month(session, settings, month) for month in months]


def _key(month: date) -> str:
    return f"exports/events/{month:%Y-%m}.csv.gz"


def _in_month(column: Any, month: date) -> Any:
    return and_(column >= month, column < next_month(month))


def _count(session: Session, month: date) -> int:
    return int(session.scalar(select(func.count()).where(_in_month(Event.day, month))) or 0)


def retire_month(session: Session, settings: Settings, month: date) -> Retired:
    """Export, freeze the strata, unlink queue items and reviews, drop; one transaction (the
    export is written before anything changes; evidence images are deleted after the commit)."""
    appeals = session.scalar(
        select(func.count()).where(
            QueueItem.reason == "appeal",
            QueueItem.status == "open",
            _in_month(QueueItem.event_day, month),
        )
    )
    if appeals:
        raise RetentionError(
            f"{month:%Y-%m} has {appeals} open appeal(s): decide them before its events go"
        )
    store = objects_for(settings)
    key = _key(month)
    tally = _Tally()
    size = store.put_stream(key, _export(session, month, tally))
    _freeze_strata(session, month)
    day = _in_month(QueueItem.event_day, month)
    session.execute(
        update(QueueItem)
        .where(day)
        .values(
            event_id=None,
            event_day=None,
            status=case((QueueItem.status == "open", "expired"), else_=QueueItem.status),
        )
    )
    session.execute(
        update(Review)
        .where(_in_month(Review.event_day, month))
        .values(event_id=None, event_day=None)
    )
    _drop(session, month)
    events, evidence = tally.rows, tally.evidence
    label = f"{month:%Y-%m}"
    session.add(
        RetiredMonth(month=label, events=events, export_key=key, retired_at=datetime.now(UTC))
    )
    session.commit()
    kept = evidence_for(settings)
    for event_id in evidence:
        kept.delete(event_id)
    log.info("retired %s: %d events exported to %s (%d bytes), %d evidence images deleted",
             label, events, key, size, len(evidence))  # fmt: skip
    return Retired(label, events, key, len(evidence))


@dataclass
class _Tally:
    """What the export saw: its rows, and the ids of the events with stored evidence."""

    rows: int = 0
    evidence: list[Any] = field(default_factory=list)


def _export(session: Session, month: date, tally: _Tally) -> Iterator[bytes]:
    """The month's events as gzip-compressed CSV, streamed (one header row, then by id),
    counted on the way."""
    columns = [c.name for c in EVENTS.columns]
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as packed:
        text_out = io.TextIOWrapper(packed, encoding="utf-8", newline="")
        writer = csv.writer(text_out)
        writer.writerow(columns)
        rows = session.execute(
            select(EVENTS).where(_in_month(EVENTS.c.day, month)).order_by(EVENTS.c.id)
        ).yield_per(2000)
        for row in rows:
            writer.writerow([_cell(value) for value in row])
            tally.rows += 1
            if row.evidence_stored:
                tally.evidence.append(row.event_id)
            if buffer.tell() > 1 << 20:
                text_out.flush()
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        text_out.flush()
        text_out.detach()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _freeze_strata(session: Session, month: date) -> None:
    """What `api.stats.queries.strata` and the monthly report read from these events."""
    decided_flag = case((decided_by_review(), True), else_=False)
    weight = sample_weight()
    reviews = select(func.count(Review.id)).where(standing_review()).scalar_subquery()
    keys = (Event.day, Event.compound_id, Event.category, Event.model_version, Event.verdict,
            Event.final_verdict, decided_flag, Event.audit, Event.flag_sample)  # fmt: skip
    source = (
        select(*keys, func.count(), func.sum(weight), func.sum(weight * weight), func.sum(reviews))
        .where(_in_month(Event.day, month))
        .group_by(*keys)
    )
    names = ["day", "compound_id", "category", "model_version", "verdict", "final_verdict",
             "decided", "audit", "flag_sample", "n", "w", "w2", "reviews"]  # fmt: skip
    session.execute(insert(RetiredStratum).from_select(names, source))


def _drop(session: Session, month: date) -> None:
    if not is_postgres(session):
        session.execute(EVENTS.delete().where(_in_month(EVENTS.c.day, month)))
        return
    name = partitions(session).get(month)
    if name is not None:
        session.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
        session.execute(text(f"DROP TABLE {name}"))
    session.execute(
        text("DELETE FROM events_default WHERE day >= :lo AND day < :hi"),
        {"lo": month, "hi": next_month(month)},
    )
