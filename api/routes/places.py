"""The place tree, bins and the CSV import (writes: admin; reads: within jurisdiction)."""

from __future__ import annotations

from fastapi import APIRouter, Body, HTTPException, Query, status
from sqlalchemy import select
from sqlalchemy.orm import aliased

from api.db.models import Bin, Place, PlaceKind
from api.deps import Admin, AnyUser, SessionDep, place_in_scope
from api.places import add_place, import_csv
from api.schemas import BinCreate, BinPublic, ImportPublic, PlaceCreate, PlacePublic, RowErrorPublic
from vision.errors import TaxonomyError
from vision.taxonomy import BUILTIN_PROFILES, load_profile

router = APIRouter(tags=["places"])
Parent = aliased(Place)


def _public(place: Place, parent: str | None) -> PlacePublic:
    return PlacePublic(
        lat=place.lat,
        lon=place.lon,
        kind=PlaceKind(place.kind),
        code=place.code,
        name=place.name,
        parent=parent,
        profile=place.profile,
    )


@router.get("/places", response_model=list[PlacePublic])
def list_places(
    caller: AnyUser,
    session: SessionDep,
    kind: PlaceKind | None = None,
    under: str | None = Query(None, description="only places under this code"),
    limit: int = Query(1000, ge=1, le=10000),
) -> list[PlacePublic]:
    stmt = select(Place, Parent.code).outerjoin(Parent, Parent.id == Place.parent_id)
    if kind is not None:
        stmt = stmt.where(Place.kind == kind.value)
    if under is not None:
        stmt = stmt.where(Place.path.startswith(place_in_scope(session, caller, under).path))
    rows = session.execute(stmt.order_by(Place.path).limit(limit * 4)).all()
    return [_public(p, parent) for p, parent in rows if caller.covers(p.path)][:limit]


@router.get("/places/{code}", response_model=PlacePublic)
def get_place(code: str, caller: AnyUser, session: SessionDep) -> PlacePublic:
    place = place_in_scope(session, caller, code)
    parent = session.get(Place, place.parent_id) if place.parent_id else None
    return _public(place, parent.code if parent else None)


@router.post("/places", response_model=PlacePublic, status_code=201)
def create_place(body: PlaceCreate, caller: Admin, session: SessionDep) -> PlacePublic:
    if session.scalar(select(Place.id).where(Place.code == body.code)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"place {body.code!r} exists")
    if body.profile not in BUILTIN_PROFILES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown profile {body.profile!r}"
        )
    parent = None
    if body.parent is not None:
        parent = session.scalar(select(Place).where(Place.code == body.parent))
        if parent is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no parent {body.parent!r}")
    try:
        place = add_place(session, body.kind, body.code, body.name, parent, body.profile)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return _public(place, body.parent)


@router.post("/bins", response_model=BinPublic, status_code=201)
def create_bin(body: BinCreate, caller: Admin, session: SessionDep) -> BinPublic:
    station = session.scalar(
        select(Place).where(Place.code == body.station, Place.kind == PlaceKind.STATION.value)
    )
    if station is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no station {body.station!r}")
    if session.scalar(select(Bin.id).where(Bin.code == body.code)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"bin {body.code!r} exists")
    try:
        load_profile(station.profile).accepted(body.category)
    except TaxonomyError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.add(Bin(code=body.code, station_id=station.id, category=body.category))
    session.commit()
    return BinPublic(code=body.code, station=body.station, category=body.category)


@router.get("/places/{code}/bins", response_model=list[BinPublic])
def list_bins(code: str, caller: AnyUser, session: SessionDep) -> list[BinPublic]:
    station = place_in_scope(session, caller, code)
    bins = session.scalars(select(Bin).where(Bin.station_id == station.id).order_by(Bin.code))
    return [BinPublic(code=b.code, station=code, category=b.category) for b in bins]


@router.post(
    "/places/import",
    response_model=ImportPublic,
    responses={422: {"model": ImportPublic, "description": "rows with errors"}},
)
def import_places(
    caller: Admin,
    session: SessionDep,
    body: str = Body(..., media_type="text/csv", max_length=20_000_000),
) -> ImportPublic:
    result = import_csv(session, body)
    public = ImportPublic(
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        errors=[RowErrorPublic(line=e.line, message=e.message) for e in result.errors],
    )
    if result.errors:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, public.model_dump())
    session.commit()
    return public
