"""The review queue: claims, decisions and what a decision does to an event and its counters.

A decision is final for the supervisor who makes it; an admin may supersede it, and an appeal
sends the event back for a second review. Every decision is kept; the newest one not superseded
gives the event its verdict everywhere (statistics, households, exports).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Bin, Event, Place, QueueItem, Review
from api.rollups import add_household_days, add_rollups
from api.stats.counters import Dropoff, difference, household_counts, rollup_counts, rollup_weights
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


def claim(session: Session, item: QueueItem, user_id: int, minutes: int) -> None:
    now = datetime.now(UTC)
    if item.status != "open":
        raise ReviewError("this item is decided already", conflict=True)
    held = item.claimed_until and _aware(item.claimed_until) > now
    if held and item.claimed_by != user_id:
        raise ReviewError("another supervisor is reviewing this item", conflict=True)
    item.claimed_by = user_id
    item.claimed_until = now + timedelta(minutes=minutes)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decide(
    session: Session,
    item: QueueItem,
    user_id: int,
    decision: Decision,
    true_categories: list[Category],
    note: str | None,
    supersede: bool = False,
    claim_minutes: int = 15,
    labels: list[str | None] | None = None,
) -> Review:
    """Record a decision; `supersede` (admins) replaces the item's standing decision."""
    if supersede:
        if item.status != "decided":
            raise ReviewError("nothing to supersede: the item has no decision yet", conflict=True)
    else:
        claim(session, item, user_id, claim_minutes)
    event = session.get(Event, item.event_id) if item.event_id else None
    standing = _standing(session, item)
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
    if supersede or item.reason == "appeal":
        for old in standing:
            old.superseded_by = review.id
    item.status = "decided"
    item.claimed_until = None
    if event is not None:
        set_final_verdict(session, event, verdict)
    return review


def check_labels_named(
    labels: list[str | None], items: int, true_categories: list[Category], profile: Profile
) -> None:
    """Per-item fine labels: one per item, known to the taxonomy, and (when the true categories
    are given) each within them."""
    if len(labels) != items:
        raise ReviewError(f"{len(labels)} item label(s) for an event with {items} item(s)")
    unknown = sorted({lb for lb in labels if lb is not None and lb not in label_catalog()})
    if unknown:
        raise ReviewError(f"unknown item label(s): {', '.join(unknown)}")
    if true_categories:
        outside = sorted(
            {lb for lb in labels if lb and profile.category_of(lb) not in true_categories}
        )
        if outside:
            raise ReviewError(
                f"item label(s) {', '.join(outside)} not among the true categories "
                f"{', '.join(c.value for c in true_categories)}"
            )


def _standing(session: Session, item: QueueItem) -> list[Review]:
    """The decisions that count now: this item's, and for an appeal the event's earlier ones."""
    if item.reason == "appeal" and item.event_id is not None:
        where = Review.event_id == item.event_id
    else:
        where = Review.item_id == item.id
    return list(
        session.scalars(
            select(Review).where(where, Review.superseded_by.is_(None), Review.withdrawn.is_(False))
        )
    )


def undo(session: Session, item: QueueItem, user_id: int, minutes: int) -> Review:
    """Withdraw the caller's own standing decision on an item, made in the last `minutes`: the
    item is open again (claimed by the caller) and the event's verdict goes back to what it was
    before (an earlier standing review's, else the model's). The decision stays on record."""
    standing = [r for r in _standing(session, item) if r.item_id == item.id]
    if not standing or standing[-1].reviewer_id != user_id:
        raise ReviewError("nothing of yours to undo on this item", conflict=True)
    review = standing[-1]
    made = review.created_at if review.created_at.tzinfo else review.created_at.replace(tzinfo=UTC)
    if datetime.now(UTC) - made > timedelta(minutes=minutes):
        raise ReviewError(f"a decision can be undone for {minutes} minutes only", conflict=True)
    review.withdrawn = True
    item.status = "open"
    item.claimed_by, item.claimed_until = user_id, datetime.now(UTC) + timedelta(minutes=minutes)
    event = session.get(Event, item.event_id) if item.event_id else None
    if event is not None:
        session.flush()
        earlier = session.scalars(
            select(Review)
            .where(
                Review.event_id == event.id,
                Review.superseded_by.is_(None),
                Review.withdrawn.is_(False),
            )
            .order_by(Review.id.desc())
        ).first()
        set_final_verdict(session, event, earlier.verdict if earlier else event.verdict)
        event.reviewed = earlier is not None
    return review


def set_final_verdict(session: Session, event: Event, verdict: str) -> None:
    """Give an event a reviewed verdict and move its counters with it."""
    old = event.final_verdict
    event.reviewed = True
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
    if event.household_id is not None:
        household = difference(household_counts(verdict), household_counts(old))
        add_household_days(
            session,
            {(event.day, event.household_id): household},
            {event.household_id: event.compound_id},
            {},
        )
    event.final_verdict = verdict
