"""Inspections (检查): a sorting office's weekly guidance visits and monthly undercover checks of
a compound or station: who, when, what was found, and the day it was put right. The assessment
counts them (api/assessment/indicators.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from api.db.models import Inspection, Place, PlaceKind
from api.deps import Reader, RowId, SessionDep, place_in_scope
from api.schemas import InspectionCreate, InspectionKind, InspectionPublic, InspectionUpdate

router = APIRouter(tags=["inspections"])
INSPECTED = (PlaceKind.COMPOUND.value, PlaceKind.STATION.value)


def _public(row: Inspection, place: Place) -> InspectionPublic:
    return InspectionPublic(
        id=row.id,
        place=place.code,
        day=row.day,
        inspector=row.inspector,
        kind=InspectionKind(row.kind),
        findings=row.findings,
        rectified_on=row.rectified_on,
    )


def _check_dates(day: date, rectified_on: date | None) -> None:
    if rectified_on is not None and rectified_on < day:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "rectified_on is before the inspection's day"
        )


@router.post("/inspections", response_model=InspectionPublic, status_code=201)
def create(body: InspectionCreate, caller: Reader, session: SessionDep) -> InspectionPublic:
    """Record an inspection of a compound or station in your jurisdiction."""
    place = place_in_scope(session, caller, body.place)
    if place.kind not in INSPECTED:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "inspections are of a compound or a station"
        )
    _check_dates(body.day, body.rectified_on)
    row = Inspection(
        place_id=place.id,
        day=body.day,
        inspector=body.inspector.strip(),
        kind=body.kind.value,
        findings=body.findings,
        rectified_on=body.rectified_on,
        created_by=caller.user.id,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.commit()
    return _public(row, place)


@router.get("/inspections", response_model=list[InspectionPublic])
def list_inspections(
    caller: Reader,
    session: SessionDep,
    place: Annotated[str, Query(description="any place code: its inspections and below it")],
    start: Annotated[date, Query(description="first day, inclusive")],
    end: Annotated[date, Query(description="last day, inclusive")],
    open_only: Annotated[bool, Query(description="only those not rectified yet")] = False,
) -> list[InspectionPublic]:
    node = place_in_scope(session, caller, place)
    stmt = (
        select(Inspection, Place)
        .join(Place, Place.id == Inspection.place_id)
        .where(Place.path.startswith(node.path), Inspection.day >= start, Inspection.day <= end)
        .order_by(Inspection.day.desc(), Inspection.id.desc())
        .limit(1000)
    )
    if open_only:
        stmt = stmt.where(Inspection.rectified_on.is_(None))
    return [_public(row, where) for row, where in session.execute(stmt).all()]


@router.patch("/inspections/{inspection_id}", response_model=InspectionPublic)
def update(
    inspection_id: RowId, body: InspectionUpdate, caller: Reader, session: SessionDep
) -> InspectionPublic:
    """Note the day the findings were put right, or amend the findings."""
    row = session.get(Inspection, inspection_id)
    place = session.get(Place, row.place_id) if row is not None else None
    if row is None or place is None or not caller.covers(place.path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such inspection in your jurisdiction")
    if body.findings is not None:
        row.findings = body.findings
    if "rectified_on" in body.model_fields_set:
        _check_dates(row.day, body.rectified_on)
        row.rectified_on = body.rectified_on
    session.commit()
    return _public(row, place)
