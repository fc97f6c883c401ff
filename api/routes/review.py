"""The review queue for supervisors (their jurisdiction) and admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import func, or_, select

from api.db.models import Bin, Event, Place, QueueItem, Review, User
from api.db.partitions import event_of, events_by_id
from api.deps import Admin, Reviewer, RowId, SessionDep, SettingsDep, place_in_scope
from api.review import ReviewError, claim, decide, undo
from api.schemas import DecisionCreate, QueueCount, QueueEvent, QueueItemPublic, ReviewPublic
from api.security import appeal_code
from api.storage import evidence_for
from vision.taxonomy import Category

router = APIRouter(tags=["review"])
Reason = Literal["flagged", "uncertain", "audit", "appeal", "report"]


def _item_public(
    session: SessionDep, item: QueueItem, events: dict[int, Event] | None = None
) -> QueueItemPublic:
    event_public = None
    if item.event_id is not None:
        event = (events or {}).get(item.event_id) or event_of(
            session, item.event_id, item.event_day
        )
        assert event is not None
        station = session.get(Place, event.station_id)
        bin_ = session.get(Bin, event.bin_id)
        event_public = QueueEvent(
            event_id=str(event.event_id),
            station=station.code if station else "",
            bin=bin_.code if bin_ else "",
            bin_category=event.bin_category,
            captured_at=event.captured_at,
            verdict=event.verdict,
            final_verdict=event.final_verdict,
            offending=event.offending,
            items=event.items,
            evidence_url=f"/api/v1/events/{event.event_id}/evidence"
            if event.evidence_stored
            else None,
            appeal_code=appeal_code(event.event_id),
            household=event.pseudonym,
            compound=compound.code if (compound := session.get(Place, event.compound_id)) else None,
            profile=station.profile if station else "national",
        )
    claimer = session.get(User, item.claimed_by) if item.claimed_by else None
    report_url = f"/api/v1/reports/{item.report_id}/image" if item.report_id else None
    return QueueItemPublic(
        id=item.id,
        reason=item.reason,
        status=item.status,
        created_at=item.created_at,
        note=item.note,
        claimed_by=claimer.username if claimer else None,
        claimed_until=item.claimed_until,
        event=event_public,
        report_image_url=report_url,
    )


def _scoped_item(session: SessionDep, caller: Reviewer, item_id: int) -> QueueItem:
    item = session.get(QueueItem, item_id)
    if item is None or not caller.covers(item.place_path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no review item {item_id} for you")
    return item


def _open_for(caller: Reviewer, place_path: str | None = None) -> list[Any]:
    """Open items in the caller's jurisdiction (under `place_path` if given) that nobody else
    holds."""
    now = datetime.now(UTC)
    scope = or_(*(QueueItem.place_path.startswith(p) for p in caller.scope_paths))
    where = [
        scope,
        QueueItem.status == "open",
        or_(
            QueueItem.claimed_by.is_(None),
            QueueItem.claimed_by == caller.user.id,
            QueueItem.claimed_until.is_(None),
            QueueItem.claimed_until < now,
        ),
    ]
    if place_path:
        where.append(QueueItem.place_path.startswith(place_path))
    return where


@router.get("/review/queue", response_model=list[QueueItemPublic])
def queue(
    caller: Reviewer,
    session: SessionDep,
    reason: Reason | None = None,
    state: Literal["open", "decided"] = "open",
    place: str | None = Query(None, description="only items under this place code"),
    limit: int = Query(50, ge=1, le=500),
) -> list[QueueItemPublic]:
    """Items in your jurisdiction, newest first; open items claimed by someone else (and not
    yet expired) are left out so two supervisors never review the same image."""
    path = place_in_scope(session, caller, place).path if place else None
    if state == "open":
        where = _open_for(caller, path)
    else:
        scope = or_(*(QueueItem.place_path.startswith(p) for p in caller.scope_paths))
        where = [scope, QueueItem.status == state]
        if path:
            where.append(QueueItem.place_path.startswith(path))
    stmt = select(QueueItem).where(*where)
    if reason:
        stmt = stmt.where(QueueItem.reason == reason)
    items = list(
        session.scalars(
            stmt.order_by(QueueItem.created_at.desc(), QueueItem.id.desc()).limit(limit)
        )
    )
    events = events_by_id(session, [(i.event_id, i.event_day) for i in items if i.event_id])
    return [_item_public(session, i, events) for i in items]


@router.get("/review/count", response_model=QueueCount)
def count(caller: Reviewer, session: SessionDep) -> QueueCount:
    """How many open items wait for you, by reason."""
    rows = session.execute(
        select(QueueItem.reason, func.count()).where(*_open_for(caller)).group_by(QueueItem.reason)
    ).all()
    by_reason = {reason: int(n) for reason, n in rows}
    return QueueCount(open=sum(by_reason.values()), by_reason=by_reason)


@router.post("/review/items/{item_id}/claim", response_model=QueueItemPublic)
def claim_item(
    item_id: RowId, caller: Reviewer, session: SessionDep, settings: SettingsDep
) -> QueueItemPublic:
    item = _scoped_item(session, caller, item_id)
    try:
        claim(session, item, caller.user.id, settings.claim_minutes)
    except ReviewError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return _item_public(session, item)


def _review_public(session: SessionDep, review: Review) -> ReviewPublic:
    user = session.get(User, review.reviewer_id)
    return ReviewPublic(
        id=review.id,
        item_id=review.item_id,
        decision=review.decision,
        true_categories=review.true_categories,
        verdict=review.verdict,
        note=review.note,
        reviewer=user.username if user else "",
        created_at=review.created_at,
        superseded_by=review.superseded_by,
        withdrawn=review.withdrawn,
        labels=review.item_labels,
    )


def _decide(
    session: SessionDep,
    item: QueueItem,
    user_id: int,
    body: DecisionCreate,
    supersede: bool,
) -> ReviewPublic:
    try:
        review = decide(
            session,
            item,
            user_id,
            body.decision,
            [Category(c) for c in body.true_categories],
            body.note,
            supersede,
            body.labels,
        )
    except ReviewError as exc:
        session.rollback()
        code = status.HTTP_409_CONFLICT if exc.conflict else status.HTTP_422_UNPROCESSABLE_CONTENT
        raise HTTPException(code, str(exc)) from None
    session.commit()
    return _review_public(session, review)


@router.post("/review/items/{item_id}/decision", response_model=ReviewPublic, status_code=201)
def decide_item(
    item_id: RowId,
    body: DecisionCreate,
    caller: Reviewer,
    session: SessionDep,
) -> ReviewPublic:
    """confirm (with the true categories when known), overturn, or unclear. Final: a second
    decision on the same item is refused with 409 (an admin can supersede), also when two
    arrive at once: one of them counts, the other writes nothing."""
    item = _scoped_item(session, caller, item_id)
    return _decide(session, item, caller.user.id, body, False)


@router.post("/review/items/{item_id}/supersede", response_model=ReviewPublic, status_code=201)
def supersede_item(
    item_id: RowId,
    body: DecisionCreate,
    caller: Admin,
    session: SessionDep,
) -> ReviewPublic:
    """Replace the item's standing decision (admins); 409 when it changed meanwhile. Undo gives
    the replaced decision back."""
    item = _scoped_item(session, caller, item_id)
    return _decide(session, item, caller.user.id, body, True)


@router.post("/review/items/{item_id}/undo", response_model=ReviewPublic)
def undo_item(
    item_id: RowId, caller: Reviewer, session: SessionDep, settings: SettingsDep
) -> ReviewPublic:
    """Withdraw your own standing decision on this item (within `undo_minutes`); it is kept on
    record as withdrawn, and what it replaced comes back: after a first decision or an appeal's
    second review the item is open again and yours to decide, after a supersede the decision
    it superseded stands again. The event's verdict and counters follow."""
    item = _scoped_item(session, caller, item_id)
    try:
        review = undo(session, item, caller.user.id, settings.undo_minutes)
    except ReviewError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return _review_public(session, review)


@router.get("/review/items/{item_id}/reviews", response_model=list[ReviewPublic])
def item_reviews(item_id: RowId, caller: Reviewer, session: SessionDep) -> list[ReviewPublic]:
    item = _scoped_item(session, caller, item_id)
    reviews = session.scalars(select(Review).where(Review.item_id == item.id).order_by(Review.id))
    return [_review_public(session, r) for r in reviews]


@router.get(
    "/events/{event_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "none"}},
)
def evidence(
    event_id: str, caller: Reviewer, session: SessionDep, settings: SettingsDep
) -> Response:
    from uuid import UUID

    try:
        key = UUID(event_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event") from None
    event = session.scalar(select(Event).where(Event.event_id == key))
    station = session.get(Place, event.station_id) if event else None
    if event is None or station is None or not caller.covers(station.path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event in your jurisdiction")
    data = evidence_for(settings).get(key)
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no evidence image for this event")
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
