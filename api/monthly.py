"""The monthly report of a district or street: one row per compound, ranked by the street's
assessment score (api/assessment), with its counts, rates, every indicator, the score, the grade
and the change against last month; as CSV or XLSX. A value that lacks data says why ("not
enough audits (12)"), never a number."""

from __future__ import annotations

import calendar
import csv
import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.assessment.scheme import INDICATORS
from api.assessment.score import Scored
from api.assessment.table import assessment
from api.db.models import Event, Place, RetiredStratum, Review
from api.stats.correction import Rules

HEADER = (
    "compound",
    "name",
    "registered households",
    "participating households",
    "participation",
    "drop-offs",
    "scored",
    "accuracy",
    "corrected accuracy",
    "corrected low 95%",
    "corrected high 95%",
    "contamination",
    "kitchen purity",
    "reviews",
    "rank",
    "score",
    "grade",
    "score last month",
    "change",
    *(f"indicator: {key}" for key in INDICATORS),
    "lacking data",
    "scheme",
)
PERCENT_COLUMNS = (
    4,
    7,
    8,
    9,
    10,
    11,
    12,
    *(i for i, name in enumerate(HEADER) if name.startswith("indicator:")),
)


def month_bounds(month: str) -> tuple[date, date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise ValueError(f"month must look like 2026-11, got {month!r}") from None
    return first, date(year, number, calendar.monthrange(year, number)[1])


def rows(
    session: Session,
    place: Place,
    month: str,
    zone: ZoneInfo,
    rules: Rules | None = None,
    now: datetime | None = None,
) -> list[list[Any]]:
    start, end = month_bounds(month)
    rules = rules or Rules()
    ranked = assessment(session, place, start, end, zone, rules, now or datetime.now(UTC))
    reviews = dict(
        session.execute(
            select(Event.compound_id, func.count(Review.id))
            .join(Review, Review.event_id == Event.id)
            .where(
                Event.day >= start,
                Event.day <= end,
                Review.superseded_by.is_(None),
                Review.withdrawn.is_(False),
            )
            .group_by(Event.compound_id)
        ).all()
    )
    retired = session.execute(  # months whose events were retired keep their review counts
        select(RetiredStratum.compound_id, func.sum(RetiredStratum.reviews))
        .where(RetiredStratum.day >= start, RetiredStratum.day <= end)
        .group_by(RetiredStratum.compound_id)
    ).all()
    for compound_id, count in retired:
        reviews[compound_id] = reviews.get(compound_id, 0) + int(count)
    out = []
    for row in ranked:
        compound = row.compound
        indicators = {i.key: i for i in row.now.indicators}
        s = row.summary
        totals, fixed = s["totals"], s["totals"]["corrected"]
        withheld = f"not enough audits ({fixed['audited']})"
        shown = fixed["accuracy"] is not None
        out.append(
            [
                compound.code,
                compound.name,
                s["registered_households"],
                s["participating_households"],
                s["participation"],
                totals["dropoffs"],
                totals["scored"],
                totals["accuracy"],
                fixed["accuracy"] if shown else withheld,
                fixed["low"] if shown else withheld,
                fixed["high"] if shown else withheld,
                totals["contamination"],
                s["kitchen_purity"],
                reviews.get(compound.id, 0),
                row.rank,
                _rounded(row.now.score) if row.now.score is not None else row.now.reason,
                row.now.grade,
                _rounded(row.last_month.score),
                _rounded(row.change),
                *(_indicator(indicators.get(key)) for key in INDICATORS),
                ", ".join(row.now.lacking),
                row.scheme,
            ]
        )
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _indicator(scored: Scored | None) -> float | str | None:
    """The indicator's value, or why it has none; empty when the scheme has no such one."""
    if scored is None:
        return None
    return scored.value if scored.value is not None else scored.lacks


def to_csv(table: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in table:
        writer.writerow(
            ["" if v is None else round(v, 4) if isinstance(v, float) else v for v in row]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: spreadsheets read it as UTF-8


def to_xlsx(table: list[list[Any]], title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table:
        sheet.append(row)
    for index in PERCENT_COLUMNS:
        for cell in sheet[get_column_letter(index + 1)][1:]:
            cell.number_format = "0.0%"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
