"""The assessment a street runs (考核): its scheme (YAML, stored with the street; the default
ships in the package) and the monthly table of its compounds, ranked by the scheme's score."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.assessment.scheme import SchemeError
from api.assessment.store import remove, save, scheme_for, street_of
from api.assessment.table import Row, assessment
from api.db.models import Place, PlaceKind
from api.deps import Admin, Caller, Reader, SessionDep, SettingsDep, place_in_scope
from api.limits import read_body
from api.monthly import month_bounds
from api.schemas import AssessmentRow, IndicatorPublic, SchemePublic

router = APIRouter(tags=["assessment"])
Month = Query(pattern=r"^\d{4}-\d{2}$", description="e.g. 2026-11")
MAX_SCHEME_BYTES = 64_000


def _street(session: SessionDep, caller: Caller, code: str) -> Place:
    street = place_in_scope(session, caller, code)
    if street.kind != PlaceKind.STREET:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a scheme belongs to a street")
    return street


def public_row(row: Row) -> AssessmentRow:
    return AssessmentRow(
        rank=row.rank,
        place=row.compound.code,
        name=row.compound.name,
        scheme=row.scheme,
        score=row.now.score,
        grade=row.now.grade,
        score_last_month=row.last_month.score,
        change=row.change,
        indicators=[IndicatorPublic(**vars(i)) for i in row.now.indicators],
        lacking=list(row.now.lacking),
        reason=row.now.reason,
    )


@router.get("/assessment", response_model=list[AssessmentRow])
def table(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    place: str = Query(description="a district or street code"),
    month: str = Month,
) -> list[AssessmentRow]:
    """Every compound under the place for the month, scored under its street's scheme, ranked
    by the score (withheld scores last, unranked), with last month's score and the change."""
    node = place_in_scope(session, caller, place)
    if node.kind not in (PlaceKind.DISTRICT, PlaceKind.STREET):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the assessment is for a district or a street"
        )
    try:
        start, end = month_bounds(month)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    rows = assessment(
        session, node, start, end, settings.zone, settings.correction_rules, datetime.now(UTC)
    )
    return [public_row(r) for r in rows]


@router.get("/assessment/scheme", response_model=SchemePublic)
def get_scheme(
    caller: Reader,
    session: SessionDep,
    street: str | None = Query(None, description="a street code"),
    place: str | None = Query(
        None,
        description="instead of `street`: a street or any place under one (a compound, a "
        "station), for the scheme its street runs (the pages colour rates by its bands)",
    ),
) -> SchemePublic:
    """The scheme in force for a street: its own, or the default. Give `street`, or `place`
    for the street a place belongs to (`street` in the answer says which)."""
    if (street is None) == (place is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give `street` or `place`")
    if street is not None:
        node = _street(session, caller, street)
    else:
        found = street_of(session, place_in_scope(session, caller, str(place)))
        if found is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "a district's streets may each run their own scheme: ask for a street",
            )
        node = found
    scheme, source, text = scheme_for(session, node)
    return SchemePublic(
        street=node.code, source=source, text=text, scheme=scheme.model_dump(mode="json")
    )


@router.put(
    "/assessment/scheme",
    response_model=SchemePublic,
    openapi_extra={
        "requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}}
    },
)
async def put_scheme(
    caller: Admin,
    session: SessionDep,
    request: Request,
    street: str = Query(description="a street code"),
) -> SchemePublic:
    """Upload a street's own scheme: the YAML as the request body (see the default's, from GET);
    422 names every mistake with its path."""
    raw = await read_body(request, MAX_SCHEME_BYTES, "scheme")
    return await run_in_threadpool(_put_scheme, caller, session, street, raw)


def _put_scheme(caller: Caller, session: Session, street: str, raw: bytes) -> SchemePublic:
    node = _street(session, caller, street)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "send the YAML as UTF-8"
        ) from None
    try:
        scheme = save(session, node, text, caller.user.id)
    except SchemeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return SchemePublic(
        street=node.code, source="street", text=text, scheme=scheme.model_dump(mode="json")
    )


@router.delete("/assessment/scheme", status_code=204)
def delete_scheme(
    caller: Admin, session: SessionDep, street: str = Query(description="a street code")
) -> None:
    """Back to the default scheme."""
    node = _street(session, caller, street)
    if not remove(session, node):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"street {street} has no scheme of its own")
    session.commit()
