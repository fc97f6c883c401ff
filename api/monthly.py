"""The monthly report of a district or street: one row per compound, as CSV or XLSX."""

from __future__ import annotations

import calendar
import csv
import io
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.models import Event, Place, PlaceKind, Review
from api.stats import queries
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
)


def month_bounds(month: str) -> tuple[date, date]:
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise ValueError(f"month must look like 2026-11, got {month!r}") from None
    return first, date(year, number, calendar.monthrange(year, number)[1])


def rows(
    session: Session, place: Place, month: str, zone: ZoneInfo, rules: Rules | None = None
) -> list[list[Any]]:
    start, end = month_bounds(month)
    compounds = session.scalars(
        select(Place)
        .where(Place.kind == PlaceKind.COMPOUND.value, Place.path.startswith(place.path))
        .order_by(Place.code)
    )
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
    out = []
    for compound in compounds:
        s = queries.summary(session, compound, start, end, "day", zone, rules)
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
            ]
        )
    return out


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
    for column in "EHIJKLM":
        for cell in sheet[column][1:]:
            cell.number_format = "0.0%"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
