"""The indicators of one compound-month, measured from the service's own records.

- participation: registered households with an identified drop-off ÷ registered households
  (households count for their own compound wherever they drop off); n = registered households.
- corrected_accuracy: the audit-corrected accuracy of the compound's drop-offs
  (api/stats/correction.py); missing below the minimum of decided audits, with their number.
- kitchen_purity: the same estimate for the kitchen bins alone.
- reports_handled: public error reports about the compound or its stations that arrived in the
  month and were due (arrived at least `within_days` ago, or already decided): the share decided
  within `within_days`; missing when none was due.
- inspections: for each kind the scheme expects, min(1, done ÷ expected) over the month's
  inspections of the compound and its stations, averaged over the kinds; n = inspections done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.assessment.scheme import InspectionKind, Scheme
from api.assessment.score import Value
from api.clock import aware
from api.db.models import Inspection, Place, QueueItem, Report, Review


def measure(
    session: Session,
    compound: Place,
    summary: dict[str, Any],
    scheme: Scheme,
    zone: ZoneInfo,
    now: datetime,
) -> dict[str, Value]:
    """The indicators for the period of `summary` (api.stats.queries.summary of the compound)."""
    start, end = summary["start"], summary["end"]
    values: dict[str, Value] = {}
    registered = summary["registered_households"]
    values["participation"] = Value(
        summary["participation"], registered, None if registered else "no registered households"
    )
    values["corrected_accuracy"] = _corrected(summary["totals"]["corrected"])
    kitchen = next((c for c in summary["by_category"] if c["category"] == "kitchen"), None)
    values["kitchen_purity"] = (
        _corrected(kitchen["corrected"])
        if kitchen is not None
        else Value(None, 0, "no kitchen drop-offs")
    )
    reports = scheme.indicators.get("reports_handled")
    if reports is not None and reports.within_days is not None:
        values["reports_handled"] = _reports(
            session, compound, start, end, zone, reports.within_days, now
        )
    inspections = scheme.indicators.get("inspections")
    if inspections is not None and inspections.per_month:
        values["inspections"] = _inspections(session, compound, start, end, inspections.per_month)
    return values


def _corrected(fixed: dict[str, Any]) -> Value:
    audited = int(fixed["audited"])
    if fixed["accuracy"] is None:
        return Value(None, audited, str(fixed["reason"] or f"not enough audits ({audited})"))
    return Value(float(fixed["accuracy"]), audited)


def _bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    first = datetime.combine(start, time(0), zone).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
    return first, after


def _reports(
    session: Session,
    compound: Place,
    start: date,
    end: date,
    zone: ZoneInfo,
    within_days: int,
    now: datetime,
) -> Value:
    first, after = _bounds(start, end, zone)
    decided_at = (
        select(func.min(Review.created_at))
        .where(Review.item_id == QueueItem.id, Review.withdrawn.is_(False))
        .correlate(QueueItem)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Report.created_at, QueueItem.status, decided_at)
        .join(Place, Place.id == Report.place_id)
        .join(QueueItem, QueueItem.report_id == Report.id)
        .where(
            Place.path.startswith(compound.path),
            Report.created_at >= first,
            Report.created_at < after,
        )
    ).all()
    window = timedelta(days=within_days)
    due = handled = 0
    for created, status, decided in rows:
        created = aware(created)
        in_time = status == "decided" and decided is not None and aware(decided) - created <= window
        if in_time or now - created >= window:
            due += 1
            handled += in_time
    if not due:
        return Value(None, 0, "no reports due")
    return Value(handled / due, due)


def _inspections(
    session: Session,
    compound: Place,
    start: date,
    end: date,
    expected: Mapping[InspectionKind, int],
) -> Value:
    done = dict(
        session.execute(
            select(Inspection.kind, func.count())
            .join(Place, Place.id == Inspection.place_id)
            .where(
                Place.path.startswith(compound.path),
                Inspection.day >= start,
                Inspection.day <= end,
            )
            .group_by(Inspection.kind)
        ).all()
    )
    wanted = {kind: n for kind, n in expected.items() if n > 0}
    if not wanted:
        return Value(None, 0, "the scheme expects no inspections")
    share = sum(min(1.0, done.get(kind, 0) / n) for kind, n in wanted.items()) / len(wanted)
    return Value(share, int(sum(done.values())))
