"""The review queue: claims, decisions and what a decision does to an event and its counters.

A decision is final for the supervisor who makes it; an admin may supersede it, and an appeal
sends the event back for a second review. Every decision is kept; the newest one not superseded
(nor withdrawn) gives the event its verdict everywhere (statistics, households, exports).

Every change here is one transaction that the caller commits, or rolls back on `ReviewError`:

- **Conditional updates, not read-then-write.** A claim is
  `UPDATE queue_items SET claimed_by, claimed_until WHERE id AND status = 'open' AND <nobody
  else holds it>`, a decision `UPDATE queue_items SET status = 'decided' WHERE id AND status =
  'open' AND <nobody else holds it>`; a supersede, an appeal's second review and an undo first
  lock their item with `UPDATE ... WHERE status = 'decided'`. No row updated: someone else came
  first, and the caller gets a conflict (HTTP 409) having written nothing. Whatever they read is
  read again after that first update, which on PostgreSQL holds the item's row lock and on
  SQLite the database's write lock, so two decisions on one item run one after the other and
  the second one finds the item decided.
- Replacing decisions is conditional too (`UPDATE reviews SET superseded_by WHERE ... AND
  superseded_by IS NULL AND NOT withdrawn`, every one of them or a conflict), and so is the
  event's verdict (`UPDATE events SET final_verdict WHERE id AND final_verdict = <the one the
  counters were moved from>`), so decisions on two items of one event (an appeal and its
  original, say) cannot both move the counters from the same verdict.
- **Undo restores exactly what the decision replaced**: the decisions it superseded stand again
  (`superseded_by` cleared), the item is open again only if it was open before (a first decision
  or an appeal's second review; an undone supersede leaves the item decided by the decision it
  had replaced), and the event's verdict, `reviewed` flag and counters become those the standing
  decisions give, which are the ones from before the decision.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, and_, or_, select, update
from sqlalchemy.orm import Session

from api.clock import aware
from api.db.models import Bin, Event, Place, QueueItem, Review, User
from api.db.partitions import event_of
from api.rollups import add_household_days, add_rollups
from api.stats.counters import Dropoff, difference, household_counts, rollup_counts, rollup_weights
from vision.metadata import BACKGROUND
from vision.taxonomy import Category, Profile, label_catalog, load_profile

Decision = Literal["confirm", "overturn", "unclear"]


class ReviewError(ValueError):
    """A decision that cannot be made; the message says why (HTTP 409 or 422)."""

    def __init__(self, message: str, conflict: bool = False):
        super().__init__(message)
        self.conflict = conflict


def verdict_for(
    model_verdict: str,
    decision: Decision,
    true_categories: list[Category],
    accepted: frozenset[Category],
) -> str:
    """The event's verdict after a decision (pure). True categories, when given, decide; they must
    agree with `confirm` (same as the model) or `overturn` (different from the model)."""
    if decision == "unclear":
        return model_verdict
    if true_categories:
        found = "contaminated" if set(true_categories) - accepted else "correct"
        if model_verdict in ("correct", "contaminated"):
            agrees = found == model_verdict
            if agrees != (decision == "confirm"):
                raise ReviewError(
                    f"the true categories make the drop-off {found}, which does not "
                    f"{decision} the model's {model_verdict!r}"
                )
        return found
    if model_verdict not in ("correct", "contaminated"):
        raise ReviewError(f"a {model_verdict!r} event needs the true categories")
    if decision == "confirm":
        return model_verdict
    return "contaminated" if model_verdict == "correct" else "correct"


def _rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE and say how many rows it changed."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def _update(table: Any) -> Any:
    """An UPDATE that leaves the session's objects alone: the callers read again what they use."""
    return update(table).execution_options(synchronize_session=False)


def _free_for(user_id: int, now: datetime) -> ColumnElement[bool]:
    """The item is open and nobody else holds an unexpired claim on it."""
    return and_(
        QueueItem.status == "open",
        or_(
            QueueItem.claimed_by.is_(None),
            QueueItem.claimed_by == user_id,
            QueueItem.claimed_until.is_(None),
            QueueItem.claimed_until <= now,
        ),
    )


def _lock_decided(session: Session, item: QueueItem) -> bool:
    """Hold the item (a row lock on PostgreSQL, the write lock on SQLite) for the rest of the
    transaction if it is decided; say whether it is."""
    changed = _rows(
        session,
        _update(QueueItem)
        .where(QueueItem.id == item.id, QueueItem.status == "decided")
        .values(status="decided"),
    )
    session.refresh(item)
    return changed == 1


def _username(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.username if user else "someone"


def _not_free(session: Session, item: QueueItem) -> ReviewError:
    """Why a conditional claim or decision found nothing to update (`item` read again)."""
    if item.status != "open":
        decided = _item_standing(session, item)
        by = f" by {_username(session, decided[-1].reviewer_id)}" if decided else ""
        return ReviewError(
            f"this item is decided already{by}: reload the queue (an admin can supersede)",
            conflict=True,
        )
    return ReviewError(
        f"another supervisor is reviewing this item ({_username(session, item.claimed_by)})",
        conflict=True,
    )


def claim(session: Session, item: QueueItem, user_id: int, minutes: int) -> None:
    """Hold an open item for `minutes` unless someone else holds it (conditional update)."""
    now = datetime.now(UTC)
    claimed = _rows(
        session,
        _update(QueueItem)
        .where(QueueItem.id == item.id, _free_for(user_id, now))
        .values(claimed_by=user_id, claimed_until=now + timedelta(minutes=minutes)),
    )
    session.refresh(item)
    if not claimed:
        raise _not_free(session, item)


def decide(
    session: Session,
    item: QueueItem,
    user_id: int,
    decision: Decision,
    true_categories: list[Category],
    note: str | None,
    supersede: bool = False,
    labels: list[str | None] | None = None,
) -> Review:
    """Record a decision; `supersede` (admins) replaces the item's standing decision. Deciding
    takes the item and ends any claim at once. On `ReviewError` the caller rolls back: the item
    may already be marked decided."""
    if supersede:
        if not _lock_decided(session, item):
            raise ReviewError("nothing to supersede: the item has no decision yet", conflict=True)
    else:
        taken = _rows(
            session,
            _update(QueueItem)
            .where(QueueItem.id == item.id, _free_for(user_id, datetime.now(UTC)))
            .values(status="decided", claimed_by=user_id, claimed_until=None),
        )
        session.refresh(item)
        if not taken:
            raise _not_free(session, item)
    event = event_of(session, item.event_id, item.event_day, fresh=True)
    standing = _standing(session, item)
    if supersede and not any(r.item_id == item.id for r in standing):
        raise ReviewError(
            "nothing to supersede on this item: its decision was replaced by a later review "
            "(an appeal's); supersede that one",
            conflict=True,
        )
    second = item.reason == "appeal" and not supersede
    if second and any(r.reviewer_id == user_id for r in standing):
        raise ReviewError("an appeal needs a second reviewer, not the first one", conflict=True)
    verdict = "n/a"
    if event is not None:
        station = session.get(Place, event.station_id)
        bin_ = session.get(Bin, event.bin_id)
        assert station is not None and bin_ is not None
        profile = load_profile(station.profile)
        verdict = verdict_for(
            event.verdict, decision, true_categories, profile.accepted(bin_.category)
        )
        if labels:
            check_labels_named(labels, len(event.items), true_categories, profile)
    elif labels:
        raise ReviewError("item labels need an event with items")
    review = Review(
        item_id=item.id,
        event_id=item.event_id,
        event_day=item.event_day,
        reviewer_id=user_id,
        decision=decision,
        true_categories=[c.value for c in true_categories],
        verdict=verdict,
        note=note,
        created_at=datetime.now(UTC),
        item_labels=list(labels) if labels else None,
    )
    session.add(review)
    session.flush()
    if (supersede or item.reason == "appeal") and standing:
        replaced = _rows(
            session,
            _update(Review)
            .where(
                Review.id.in_([r.id for r in standing]),
                Review.superseded_by.is_(None),
                Review.withdrawn.is_(False),
            )
            .values(superseded_by=review.id),
        )
        if replaced != len(standing):
            raise ReviewError(
                "the decision you are replacing was superseded or undone meanwhile: "
                "reload and decide again",
                conflict=True,
            )
        for old in standing:
            session.expire(old)
    if event is not None:
        set_final_verdict(session, event, verdict)
    return review


def check_labels_named(
    labels: list[str | None], items: int, true_categories: list[Category], profile: Profile
) -> None:
    """Per-item fine labels: one per item, known to the taxonomy or `background` (no item: a
    false trigger, which has no category), and (when the true categories are given) each
    within them."""
    if len(labels) != items:
        raise ReviewError(f"{len(labels)} item label(s) for an event with {items} item(s)")
    named = {lb for lb in labels if lb is not None and lb != BACKGROUND}
    unknown = sorted(named - set(label_catalog()))
    if unknown:
        raise ReviewError(f"unknown item label(s): {', '.join(unknown)}")
    if true_categories:
        outside = sorted({lb for lb in named if profile.category_of(lb) not in true_categories})
        if outside:
            raise ReviewError(
                f"item label(s) {', '.join(outside)} not among the true categories "
                f"{', '.join(c.value for c in true_categories)}"
            )


_STANDS = (Review.superseded_by.is_(None), Review.withdrawn.is_(False))


def _standing(session: Session, item: QueueItem) -> list[Review]:
    """The decisions that count now, oldest first: this item's, and for an appeal the event's
    earlier ones (read afresh)."""
    if item.reason == "appeal" and item.event_id is not None:
        where = Review.event_id == item.event_id
    else:
        where = Review.item_id == item.id
    return list(
        session.scalars(
            select(Review)
            .where(where, *_STANDS)
            .order_by(Review.id)
            .execution_options(populate_existing=True)
        )
    )


def _item_standing(session: Session, item: QueueItem) -> list[Review]:
    """The item's own standing decisions, oldest first (one, unless something went wrong)."""
    return [r for r in _standing(session, item) if r.item_id == item.id]


def undo(session: Session, item: QueueItem, user_id: int, minutes: int) -> Review:
    """Withdraw the caller's own standing decision on an item, made in the last `minutes`, and
    restore what it replaced: the decisions it superseded stand again, the item is open again
    (claimed by the caller) unless an earlier decision of it stands again (an undone supersede),
    and the event's verdict, `reviewed` flag and counters are the standing decisions' (the
    newest one's verdict, else the model's). The decision stays on record as withdrawn."""
    if not _lock_decided(session, item):
        raise ReviewError("nothing of yours to undo on this item: it is open", conflict=True)
    standing = _item_standing(session, item)
    if not standing:
        raise ReviewError("nothing of yours to undo on this item", conflict=True)
    review = standing[-1]
    if review.reviewer_id != user_id:
        raise ReviewError(
            f"the decision on this item is {_username(session, review.reviewer_id)}'s: "
            "only they can undo it",
            conflict=True,
        )
    now = datetime.now(UTC)
    if now - aware(review.created_at) > timedelta(minutes=minutes):
        raise ReviewError(f"a decision can be undone for {minutes} minutes only", conflict=True)
    withdrawn = _rows(
        session,
        _update(Review).where(Review.id == review.id, *_STANDS).values(withdrawn=True),
    )
    if not withdrawn:
        raise ReviewError("this decision was superseded or undone meanwhile", conflict=True)
    session.execute(
        _update(Review).where(Review.superseded_by == review.id).values(superseded_by=None)
    )
    still_decided = session.scalar(
        select(Review.id).where(Review.item_id == item.id, Review.withdrawn.is_(False)).limit(1)
    )
    if still_decided is None:
        session.execute(
            _update(QueueItem)
            .where(QueueItem.id == item.id)
            .values(
                status="open", claimed_by=user_id, claimed_until=now + timedelta(minutes=minutes)
            )
        )
    session.refresh(item)
    event = event_of(session, item.event_id, item.event_day)
    if event is not None:
        newest = session.scalars(
            select(Review)
            .where(Review.event_id == event.id, *_STANDS)
            .order_by(Review.id.desc())
            .execution_options(populate_existing=True)
        ).first()
        verdict = newest.verdict if newest is not None else event.verdict
        set_final_verdict(session, event, verdict, reviewed=newest is not None)
    session.refresh(review)
    return review


def set_final_verdict(session: Session, event: Event, verdict: str, reviewed: bool = True) -> None:
    """Give an event its final verdict (a review's, or back to the model's with `reviewed`
    False) and move its counters with it. Conditional on the event still having the verdict the
    counters move from; a conflict when another decision changed it meanwhile."""
    session.refresh(event)
    old, was_reviewed = event.final_verdict, event.reviewed
    moved = _rows(
        session,
        _update(Event)
        .where(Event.id == event.id, Event.day == event.day, Event.final_verdict == old)
        .values(final_verdict=verdict, reviewed=reviewed),
    )
    if not moved:
        raise ReviewError(
            "another decision on this drop-off changed its verdict meanwhile: reload and try again",
            conflict=True,
        )
    session.refresh(event)
    if event.household_id is not None:
        household = difference(
            household_counts(verdict, reviewed), household_counts(old, was_reviewed)
        )
        if household:
            add_household_days(
                session,
                {(event.day, event.household_id): household},
                {event.household_id: event.compound_id},
                {},
            )
    if old == verdict:
        return
    identified = event.household_id is not None
    before = Dropoff(old, event.verdict, identified, event.weight_kg)
    after = Dropoff(verdict, event.verdict, identified, event.weight_kg)
    delta = difference(rollup_counts(after), rollup_counts(before))
    for name, value in difference(
        Counter(rollup_weights(after)), Counter(rollup_weights(before))
    ).items():
        delta[name] = value
    add_rollups(session, {(event.day, event.hour, event.compound_id, event.category): delta})
