"""Statistics over any node of the place tree and any period (offices, supervisors, admins)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from api.assessment.store import appeal_windows
from api.assessment.table import assessment
from api.clock import today
from api.db.models import Place, PlaceKind
from api.deps import AnyUser, Reader, SessionDep, SettingsDep, place_in_scope
from api.schemas import HouseholdPublic, RankingRow, ServiceDay, SummaryPublic
from api.stats import queries

router = APIRouter(tags=["statistics"])
MAX_DAYS = 800

PlaceCode = Annotated[str, Query(description="a district, street, community or compound code")]
Start = Annotated[date, Query(description="first day (local), inclusive")]
End = Annotated[date, Query(description="last day (local), inclusive")]


def _node(session: SessionDep, caller: Reader, code: str, start: date, end: date) -> Place:
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end is before start")
    if (end - start).days > MAX_DAYS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"a period is at most {MAX_DAYS} days"
        )
    place = place_in_scope(session, caller, code)
    if place.kind == PlaceKind.STATION:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "statistics are kept per compound and above; ask for the compound",
        )
    return place


@router.get("/stats/today", response_model=ServiceDay)
def service_day(caller: AnyUser, settings: SettingsDep) -> ServiceDay:
    """The service's day: statistics count days in its time zone (`BINWATCH_TIMEZONE`), not the
    browser's or UTC, so pages take their default period from here."""
    del caller
    now = datetime.now(UTC).astimezone(settings.zone)
    return ServiceDay(timezone=settings.timezone, today=now.date(), month=now.strftime("%Y-%m"))


@router.get("/stats/summary", response_model=SummaryPublic)
def summary(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    place: PlaceCode,
    start: Start,
    end: End,
    bucket: Literal["day", "hour"] = "day",
) -> SummaryPublic:
    """Drop-offs, identified drop-offs, participation, accuracy, contamination per bin category
    and kitchen-waste purity, with reviewed verdicts taking precedence, by day or hour."""
    node = _node(session, caller, place, start, end)
    return SummaryPublic.model_validate(
        queries.summary(session, node, start, end, bucket, settings.zone, settings.correction_rules)
    )


@router.get("/stats/households", response_model=list[HouseholdPublic])
def households(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    place: PlaceCode,
    start: Start,
    end: End,
    follow_up: bool = Query(False, description="only households to follow up, worst first"),
    limit: int = Query(100, ge=1, le=5000),
) -> list[HouseholdPublic]:
    """Per household: drop-offs, accuracy, points (rules in the settings), last seen. A
    deduction counts once a supervisor confirms it (or its appeal window passed, where the
    street chose one); until then it shows as pending."""
    node = _node(session, caller, place, start, end)
    day = today(settings.zone)
    windows = appeal_windows(session, node, settings.points.appeal_window_days)
    rows = queries.households(
        session, node, start, end, settings.points, day, windows, follow_up, limit
    )
    return [HouseholdPublic.model_validate(r) for r in rows]


@router.get("/stats/rankings", response_model=list[RankingRow])
def rankings(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    place: PlaceCode,
    start: Start,
    end: End,
) -> list[RankingRow]:
    """The compounds under a node ranked by their street's assessment score over the period
    (api/assessment; `/assessment` gives every indicator), never by raw accuracy."""
    node = _node(session, caller, place, start, end)
    scored = assessment(
        session,
        node,
        start,
        end,
        settings.zone,
        settings.correction_rules,
        datetime.now(UTC),
        last_month=False,
    )
    scores = {r.compound.code: (r.now.score, r.now.grade) for r in scored}
    return [
        RankingRow.model_validate(r) for r in queries.rankings(session, node, start, end, scores)
    ]
