"""The assessment table of a district or street for a month: every compound scored under its
street's scheme, this month and last, ranked by the score (never by raw model accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.assessment.indicators import measure
from api.assessment.scheme import Scheme
from api.assessment.score import Assessment, assess
from api.assessment.store import scheme_for, street_of
from api.db.models import Place, PlaceKind
from api.stats import queries
from api.stats.correction import Rules


@dataclass(frozen=True)
class Row:
    rank: int | None  # None while the score is withheld (listed after the ranked ones)
    compound: Place
    scheme: str
    now: Assessment
    last_month: Assessment
    summary: dict[str, Any]  # api.stats.queries.summary of the compound for the period

    @property
    def change(self) -> float | None:
        if self.now.score is None or self.last_month.score is None:
            return None
        return self.now.score - self.last_month.score


NOT_COMPARED = Assessment(None, None, (), (), "not compared")


def previous_month(start: date) -> tuple[date, date]:
    end = start - timedelta(days=1)
    return end.replace(day=1), end


def assessment(
    session: Session,
    node: Place,
    start: date,
    end: date,
    zone: ZoneInfo,
    rules: Rules,
    now: datetime,
    last_month: bool = True,
) -> list[Row]:
    """One row per compound under `node`, ranked by the score for start..end (a month; the
    change is against the month before it, skipped with `last_month` False)."""
    compounds = list(
        session.scalars(
            select(Place)
            .where(Place.kind == PlaceKind.COMPOUND.value, Place.path.startswith(node.path))
            .order_by(Place.code)
        )
    )
    schemes: dict[int | None, Scheme] = {}
    names: dict[int | None, str] = {}
    before = previous_month(start)
    scored = []
    for compound in compounds:
        street = street_of(session, compound)
        key = street.id if street is not None else None
        if key not in schemes:
            scheme, source, _ = scheme_for(session, street)
            schemes[key] = scheme
            names[key] = f"{scheme.name} ({source})"
        scheme = schemes[key]
        summary = queries.summary(session, compound, start, end, "day", zone, rules)
        this = assess(measure(session, compound, summary, scheme, zone, now), scheme)
        last = NOT_COMPARED
        if last_month:
            earlier = queries.summary(session, compound, *before, "day", zone, rules)
            last = assess(measure(session, compound, earlier, scheme, zone, now), scheme)
        scored.append((compound, names[key], this, last, summary))
    scored.sort(key=lambda r: (r[2].score is None, -(r[2].score or 0.0), r[0].code))
    rows = []
    for position, (compound, scheme_name, this, last, summary) in enumerate(scored, start=1):
        rank = position if this.score is not None else None
        rows.append(Row(rank, compound, scheme_name, this, last, summary))
    return rows
