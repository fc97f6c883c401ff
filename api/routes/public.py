"""What residents and inspectors send without an account: error reports (纠错) with a photo and
a place, and appeals against a `contaminated` verdict by the code on their feedback slip."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import ratelimit
from api.assessment.store import appeal_windows
from api.clock import today
from api.db.models import Event, Household, Place, PlaceKind, QueueItem, Report
from api.deps import Reviewer, RowId, SessionDep, SettingsDep
from api.schemas import AppealCreate, AppealStatus, PublicPlace, QueueItemPublic, ReportPublic
from api.security import appeal_code, normalise_appeal_code
from api.settings import Settings
from api.stats.queries import deduction_state
from api.storage import ImageRejectedError, evidence_for, reencode_jpeg

router = APIRouter(tags=["public"])
REPORTABLE = (PlaceKind.STATION.value, PlaceKind.COMPOUND.value)


@router.post(
    "/public/reports",
    response_model=ReportPublic,
    status_code=201,
    responses={429: {"description": "too many reports from this address or to this place"}},
)
def report(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    place: Annotated[str, Form(max_length=64, description="station or compound code")],
    text: Annotated[str, Form(max_length=2000)] = "",
    image: Annotated[UploadFile | None, File(description="a JPEG photo")] = None,
    key: Annotated[
        str | None,
        Form(
            pattern=r"^[0-9a-f]{32}$",
            description="32 hex digits, the same on every try of one report: a retry after a "
            "lost answer returns the stored report instead of storing it twice",
        ),
    ] = None,
) -> ReportPublic:
    """A resident's report on a station or compound. Limited per client address and per place
    (`public_reports_per_client`, `public_reports_per_place` an hour); faces in the photo are
    pixelated before it is kept, and it is deleted with the evidence after `retention_days`.
    The answer's `code` is the resident's reference."""
    if key is not None and (stored := session.scalar(select(Report).where(Report.key == key))):
        node = session.get(Place, stored.place_id)
        assert node is not None
        return ReportPublic(id=stored.id, place=node.code, queued=True, code=_reference(key))
    now = datetime.now(UTC)
    client = ratelimit.client_key(request, settings)
    buckets = [
        (f"report-client:{client}", settings.public_reports_per_client),
        (f"report-place:{place}", settings.public_reports_per_place),
    ]
    ratelimit.refuse_if_over(session, buckets, now, "reports")
    ratelimit.hit(session, [bucket for bucket, _ in buckets], now)
    session.commit()
    node = session.scalar(select(Place).where(Place.code == place, Place.kind.in_(REPORTABLE)))
    if node is None:  # unknown, or a district or street: the same answer
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no station or compound with this code")
    jpeg = None
    if image is not None:
        data = image.file.read(settings.max_evidence_bytes + 1)  # a plain def: a worker thread
        try:
            jpeg, _, _ = reencode_jpeg(data, settings.max_evidence_bytes, blur=True)
        except ImageRejectedError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if jpeg is None and not text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "send a photo or a text")
    key = key or uuid.uuid4().hex
    row = Report(place_id=node.id, text=text, created_at=now, key=key)
    session.add(row)
    session.flush()
    if jpeg is not None:
        import hashlib

        evidence_for(settings).put_report(row.id, jpeg)
        row.image_sha256 = hashlib.sha256(jpeg).hexdigest()
    session.add(
        QueueItem(
            reason="report",
            report_id=row.id,
            place_path=node.path,
            created_at=now,
            status="open",
            note=text or None,
        )
    )
    try:
        session.commit()
    except IntegrityError:  # the same report's other try, stored meanwhile
        session.rollback()
        stored = session.scalar(select(Report).where(Report.key == key))
        if stored is None:
            raise
        return ReportPublic(id=stored.id, place=node.code, queued=True, code=_reference(key))
    return ReportPublic(id=row.id, place=node.code, queued=True, code=_reference(key))


def _reference(key: str) -> str:
    return f"{key[:4]}-{key[4:8]}-{key[8:12]}"


@router.get("/public/places/{code}", response_model=PublicPlace)
def public_place(code: str, session: SessionDep, settings: SettingsDep) -> PublicPlace:
    """A station's or compound's name for the residents' page (what a poster's link names), and
    how long a report is kept."""
    node = session.scalar(select(Place).where(Place.code == code, Place.kind.in_(REPORTABLE)))
    if node is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no station or compound with this code")
    return PublicPlace(
        code=node.code, name=node.name, kind=node.kind, retention_days=settings.retention_days
    )


@router.post(
    "/public/appeals",
    response_model=QueueItemPublic,
    status_code=201,
    response_model_exclude={"event": {"items"}},
)
def appeal(
    body: AppealCreate, request: Request, session: SessionDep, settings: SettingsDep
) -> QueueItemPublic:
    """Send a `contaminated` verdict back for a second review."""
    event = _by_code(body.code, request, session, settings)
    if event.final_verdict != "contaminated":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"this drop-off stands as {event.final_verdict!r}: nothing to appeal",
        )
    open_appeal = session.scalar(
        select(QueueItem.id).where(
            QueueItem.event_id == event.id, QueueItem.reason == "appeal", QueueItem.status == "open"
        )
    )
    if open_appeal is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this drop-off is already under appeal")
    station = session.get(Place, event.station_id)
    assert station is not None
    item = QueueItem(
        reason="appeal",
        event_id=event.id,
        event_day=event.day,
        place_path=station.path,
        created_at=datetime.now(UTC),
        status="open",
        note=body.text or None,
    )
    session.add(item)
    session.commit()
    return QueueItemPublic(
        id=item.id,
        reason="appeal",
        status="open",
        created_at=item.created_at,
        claimed_by=None,
        claimed_until=None,
        note=item.note,
        event=None,
    )


def _by_code(code: str, request: Request, session: Session, settings: Settings) -> Event:
    """The drop-off behind an appeal code. Codes that find nothing are counted per client
    address (`public_lookups_per_client` an hour), so codes cannot be guessed in bulk."""
    now = datetime.now(UTC)
    bucket = f"lookup-client:{ratelimit.client_key(request, settings)}"
    ratelimit.refuse_if_over(
        session, [(bucket, settings.public_lookups_per_client)], now, "lookups"
    )
    key = normalise_appeal_code(code)
    event = session.scalar(select(Event).where(Event.appeal_key == key)) if key else None
    if event is None:
        ratelimit.hit(session, [bucket], now)
        session.commit()
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no drop-off with this appeal code")
    return event


def _appeal_window(session: SessionDep, event: Event, default: int | None) -> int | None:
    """The appeal window of the street of the household's compound (or the station's, for a
    drop-off without a known household)."""
    household = session.get(Household, event.household_id) if event.household_id else None
    compound = session.get(Place, household.compound_id if household else event.compound_id)
    if compound is None:
        return default
    return appeal_windows(session, compound, default).get(compound.id, default)


@router.get("/public/appeals/{code}", response_model=AppealStatus)
def appeal_status(
    code: str, request: Request, session: SessionDep, settings: SettingsDep
) -> AppealStatus:
    """The drop-off behind a feedback slip's code: its verdict, whether its deduction is pending
    or stands, and whether it can be appealed."""
    event = _by_code(code, request, session, settings)
    appeals = list(
        session.scalars(
            select(QueueItem.status).where(
                QueueItem.event_id == event.id, QueueItem.reason == "appeal"
            )
        )
    )
    state = "open" if "open" in appeals else "decided" if appeals else "none"
    day = today(settings.zone)
    rules = settings.points
    window = _appeal_window(session, event, rules.appeal_window_days)
    deduction = deduction_state(event, window, day, under_appeal=state == "open")
    station = session.get(Place, event.station_id)
    earns = {"correct": rules.correct, "uncertain": rules.uncertain}.get(event.final_verdict, 0)
    return AppealStatus(
        code=appeal_code(event.event_id),
        day=event.day,
        station=station.code if station else "",
        bin_category=event.bin_category,
        verdict=event.final_verdict,
        reviewed=event.reviewed,
        deduction=deduction,
        points=rules.contaminated if deduction == "standing" else earns,
        pending_points=rules.contaminated if deduction == "pending" else 0,
        stands_on=event.day + timedelta(days=window)
        if deduction == "pending" and not event.reviewed and window is not None
        else None,
        appeal=state,
        can_appeal=event.final_verdict == "contaminated" and state != "open",
    )


@router.get(
    "/reports/{report_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def report_image(
    report_id: RowId, caller: Reviewer, session: SessionDep, settings: SettingsDep
) -> Response:
    row = session.get(Report, report_id)
    place = session.get(Place, row.place_id) if row else None
    data = evidence_for(settings).get_report(report_id)
    if row is None or place is None or not caller.covers(place.path) or data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report image for you")
    return Response(data, media_type="image/jpeg")
