"""Statistics over any node of the place tree, from the rollups (never the raw events)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from api.db.models import (
    Event,
    Household,
    HouseholdDay,
    Place,
    PlaceKind,
    QueueItem,
    RetiredStratum,
    Review,
    Rollup,
)
from api.settings import Points
from api.stats.correction import Rules, Sample, Stratum, corrected_accuracy
from api.stats.rates import participation, points, rates, ratio

SUMMED = ("dropoffs", "identified", "correct", "contaminated", "uncertain", "empty")


def compounds_under(place: Place) -> Select[Any]:
    return select(Place.id).where(
        Place.kind == PlaceKind.COMPOUND.value, Place.path.startswith(place.path)
    )


def _sums() -> list[Any]:
    return [func.coalesce(func.sum(getattr(Rollup, c)), 0).label(c) for c in SUMMED]


def _in_period(place: Place, start: date, end: date) -> Any:
    return and_(
        Rollup.compound_id.in_(compounds_under(place)), Rollup.day >= start, Rollup.day <= end
    )


def households_count(session: Session, place: Place) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Household)
            .where(Household.compound_id.in_(compounds_under(place)), Household.registered)
        )
        or 0
    )


def participating_count(session: Session, place: Place, start: date, end: date) -> int:
    """Registered households with at least one identified drop-off in the period."""
    return int(
        session.scalar(
            select(func.count(func.distinct(HouseholdDay.household_id)))
            .join(Household, Household.id == HouseholdDay.household_id)
            .where(
                Household.registered,
                HouseholdDay.compound_id.in_(compounds_under(place)),
                HouseholdDay.day >= start,
                HouseholdDay.day <= end,
            )
        )
        or 0
    )


def standing_review() -> Any:
    """A review of the event in hand that stands (neither superseded nor withdrawn)."""
    return and_(
        Review.event_id == Event.id,
        Review.event_day == Event.day,
        Review.superseded_by.is_(None),
        Review.withdrawn.is_(False),
    )


def decided_by_review() -> Any:
    """The event was reviewed and a standing confirm or overturn (not `unclear`) decides it."""
    return and_(
        Event.reviewed,
        select(Review.id).where(standing_review(), Review.decision != "unclear").exists(),
    )


def sample_weight() -> Any:
    """An event's weight in its random sample: one over the share it was drawn at."""
    return 1.0 / func.coalesce(Event.sample_share, 1.0)


def strata(session: Session, place: Place, start: date, end: date) -> dict[str, list[Stratum]]:
    """Per bin category, the scored drop-offs by model version as the correction needs them:
    decided (a standing confirm or overturn) or not, and the decided members of the random audit
    and flag samples with their weights (api/stats/correction.py)."""
    rows = [
        *session.execute(event_strata(place, start, end)).all(),
        *session.execute(_retired_strata(place, start, end)).all(),
    ]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for version, category, model, final, is_decided, audit, flag, n, w, w2 in rows:
        cell = cells.setdefault(
            (category, version), {"counts": Counter(), "audit": Sample(), "flags": Sample()}
        )
        n = int(n)
        if is_decided:
            cell["counts"][f"reviewed_{final}"] += n
        else:
            cell["counts"][f"unreviewed_{final}"] += n
        if is_decided and audit and model == "correct":
            hit = final == "contaminated"
            cell["audit"] += Sample(n, float(w), float(w2), float(w) if hit else 0.0)
        if is_decided and flag and model == "contaminated":
            hit = final == "correct"
            cell["flags"] += Sample(n, float(w), float(w2), float(w) if hit else 0.0)
    out: dict[str, list[Stratum]] = {}
    for (category, version), cell in sorted(cells.items()):
        out.setdefault(category, []).append(
            Stratum(version, category, **cell["counts"], audit=cell["audit"], flags=cell["flags"])
        )
    return out


def event_strata(place: Place, start: date, end: date) -> Select[Any]:
    """The strata's groups over the period's events; every events column it reads is in
    `ix_events_compound_day` (STRATA_COLUMNS), so PostgreSQL answers it from the index alone."""
    decided = case((decided_by_review(), 1), else_=0).label("decided")
    weight = sample_weight()
    keys = (Event.model_version, Event.category, Event.verdict, Event.final_verdict, decided,
            Event.audit, Event.flag_sample)  # fmt: skip
    return (
        select(*keys, func.count(), func.sum(weight), func.sum(weight * weight))
        .where(
            Event.compound_id.in_(compounds_under(place)),
            Event.day >= start,
            Event.day <= end,
            Event.final_verdict.in_(("correct", "contaminated")),
        )
        .group_by(*keys)
    )


def _retired_strata(place: Place, start: date, end: date) -> Any:
    """The same groups from months whose events were retired (api/event_retention.py)."""
    r = RetiredStratum
    keys = (r.model_version, r.category, r.verdict, r.final_verdict, r.decided, r.audit,
            r.flag_sample)  # fmt: skip
    return (
        select(*keys, func.sum(r.n), func.sum(r.w), func.sum(r.w2))
        .where(
            r.compound_id.in_(compounds_under(place)),
            r.day >= start,
            r.day <= end,
            r.final_verdict.in_(("correct", "contaminated")),
        )
        .group_by(*keys)
    )


def corrected(strata: list[Stratum], rules: Rules) -> dict[str, Any]:
    result = corrected_accuracy(strata, rules)
    return {
        "accuracy": result.accuracy,
        "low": result.low,
        "high": result.high,
        "miss_rate": result.miss_rate,
        "false_flag_rate": result.false_flag_rate,
        "audited": result.audited,
        "flags_reviewed": result.flags_reviewed,
        "reason": result.reason,
        "audits_needed": result.audits_needed,
    }


def summary(
    session: Session,
    place: Place,
    start: date,
    end: date,
    bucket: str,
    zone: ZoneInfo,
    rules: Rules | None = None,
) -> dict[str, Any]:
    rules = rules or Rules()
    where = _in_period(place, start, end)
    totals = session.execute(select(*_sums()).where(where)).one()._asdict()
    by_bin = strata(session, place, start, end)
    by_category = []
    kitchen_purity = None
    weight = func.coalesce(func.sum(Rollup.weight_kg), 0.0)
    good_weight = func.coalesce(func.sum(Rollup.correct_weight_kg), 0.0)
    rows = session.execute(
        select(Rollup.category, *_sums(), weight.label("w"), good_weight.label("gw"))
        .where(where)
        .group_by(Rollup.category)
        .order_by(Rollup.category)
    ).all()
    for row in rows:
        values = row._asdict()
        entry = {
            "category": values["category"],
            **rates(values),
            "purity_by_weight": ratio(values["gw"], values["w"]),
            "corrected": corrected(by_bin.get(values["category"], []), rules),
        }
        by_category.append(entry)
        if values["category"] == "kitchen":
            kitchen_purity = entry["accuracy"]
    keys = [Rollup.day] if bucket == "day" else [Rollup.day, Rollup.hour]
    buckets = []
    for row in session.execute(
        select(*keys, *_sums()).where(where).group_by(*keys).order_by(*keys)
    ).all():
        values = row._asdict()
        hour = values.get("hour", 0)
        buckets.append(
            {"start": datetime.combine(values["day"], time(hour), zone), **rates(values)}
        )
    registered = households_count(session, place)
    active = participating_count(session, place, start, end)
    return {
        "place": place.code,
        "kind": place.kind,
        "start": start,
        "end": end,
        "registered_households": registered,
        "participating_households": active,
        "participation": participation(active, registered),
        "totals": {
            **rates(totals),
            "corrected": corrected([s for group in by_bin.values() for s in group], rules),
        },
        "by_category": by_category,
        "kitchen_purity": kitchen_purity,
        "buckets": buckets,
    }


def households(
    session: Session,
    place: Place,
    start: date,
    end: date,
    rules: Points,
    today: date,
    windows: Mapping[int, int | None],
    follow_up: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Per household over the period; with `follow_up`, those to visit first: negative points or
    the lowest accuracy (at least three scored drop-offs), worst first.

    Points count a deduction only once it stands (see `Points`): confirmed by a supervisor, or
    with the street's appeal window set, unreviewed for more than that many days before
    `today` (the service's day); one under an open appeal is pending again. The rest of the
    contaminated drop-offs are `pending_deductions`, shown beside the points, costing nothing.
    `windows`: compound id → its street's appeal window (api.assessment.store.appeal_windows)."""
    h = HouseholdDay
    cutoffs = _cutoffs(today, windows)
    lapsed = (
        func.sum(
            case(
                *[
                    (
                        and_(h.compound_id.in_(ids), h.day <= cutoff),
                        h.contaminated - h.confirmed,
                    )
                    for cutoff, ids in cutoffs
                ],
                else_=0,
            )
        )
        if cutoffs
        else func.sum(0)
    )
    stmt = (
        select(
            Household.id,
            Household.code,
            Place.code.label("compound"),
            func.sum(h.dropoffs).label("d"),
            func.sum(h.correct).label("c"),
            func.sum(h.contaminated).label("x"),
            func.sum(h.uncertain).label("u"),
            func.sum(h.confirmed).label("k"),
            func.coalesce(lapsed, 0).label("lapsed"),
            func.max(h.last_seen).label("seen"),
        )
        .join(Household, Household.id == h.household_id)
        .join(Place, Place.id == h.compound_id)
        .where(h.compound_id.in_(compounds_under(place)), h.day >= start, h.day <= end)
        .group_by(Household.id, Household.code, Place.code)
    )
    appealed = _standing_under_appeal(session, place, start, end, cutoffs)
    out: list[dict[str, Any]] = []
    for hid, code, compound, d, c, x, u, k, lapsed_, seen in session.execute(stmt).all():
        scored = int(c) + int(x)
        standing = int(k) + int(lapsed_) - appealed.get(hid, 0)
        pending = int(x) - standing
        out.append(
            {
                "household": code,
                "compound": compound,
                "dropoffs": int(d),
                "scored": scored,
                "correct": int(c),
                "contaminated": int(x),
                "accuracy": ratio(int(c), scored),
                "points": points(int(c), standing, int(u), rules),
                "deductions": standing,
                "pending_deductions": pending,
                "pending_points": pending * rules.contaminated,
                "last_seen": seen,
            }
        )
    if follow_up:
        out = [r for r in out if r["points"] < 0 or (r["scored"] >= 3 and r["accuracy"] < 0.8)]
        out.sort(key=lambda r: (r["accuracy"] if r["accuracy"] is not None else 1, r["points"]))
    else:
        out.sort(key=lambda r: (-r["points"], r["household"]))
    return out[:limit]


def _appeal_cutoff(window: int | None, today: date) -> date | None:
    """The last day whose unappealed model flags stand (None: none stand without review)."""
    if window is None:
        return None
    return today - timedelta(days=window)


def _cutoffs(today: date, windows: Mapping[int, int | None]) -> list[tuple[date, list[int]]]:
    """(cutoff day, compound ids) for the compounds whose unappealed flags can stand."""
    grouped: dict[date, list[int]] = {}
    for compound, window in windows.items():
        cutoff = _appeal_cutoff(window, today)
        if cutoff is not None:
            grouped.setdefault(cutoff, []).append(compound)
    return sorted(grouped.items())


def _standing_under_appeal(
    session: Session,
    place: Place,
    start: date,
    end: date,
    cutoffs: list[tuple[date, list[int]]],
) -> dict[int, int]:
    """Per household: contaminated drop-offs that would stand but are under an open appeal."""
    open_appeal = (
        select(QueueItem.id)
        .where(
            QueueItem.event_id == Event.id,
            QueueItem.reason == "appeal",
            QueueItem.status == "open",
        )
        .exists()
    )
    lapsed = [and_(Household.compound_id.in_(ids), Event.day <= cutoff) for cutoff, ids in cutoffs]
    would_stand = or_(Event.reviewed, *lapsed)
    rows = session.execute(
        select(Event.household_id, func.count())
        .join(Household, Household.id == Event.household_id)
        .where(
            Household.compound_id.in_(compounds_under(place)),
            Event.day >= start,
            Event.day <= end,
            Event.final_verdict == "contaminated",
            would_stand,
            open_appeal,
        )
        .group_by(Event.household_id)
    ).all()
    return {int(household): int(count) for household, count in rows if household is not None}


def deduction_state(
    event: Event, window: int | None, today: date, under_appeal: bool
) -> Literal["none", "pending", "standing"]:
    """One drop-off's deduction, as `households` counts it (for the public appeal page);
    `window`: the appeal window of the household's street."""
    if event.final_verdict != "contaminated":
        return "none"
    if under_appeal:
        return "pending"
    cutoff = _appeal_cutoff(window, today)
    if event.reviewed or (cutoff is not None and event.day <= cutoff):
        return "standing"
    return "pending"


def rankings(
    session: Session,
    place: Place,
    start: date,
    end: date,
    scores: dict[str, tuple[float | None, str | None]] | None = None,
) -> list[dict[str, Any]]:
    """The compounds under a street or district, ranked by their assessment score (`scores`:
    compound code → (score, grade), from api.assessment), never by raw accuracy; compounds
    without a score come last, by code. Raw accuracy and participation are shown beside."""
    scores = scores or {}
    compounds = session.execute(
        select(Place.id, Place.code, Place.name).where(Place.id.in_(compounds_under(place)))
    ).all()
    sums = {
        row.compound_id: row._asdict()
        for row in session.execute(
            select(Rollup.compound_id, *_sums())
            .where(_in_period(place, start, end))
            .group_by(Rollup.compound_id)
        ).all()
    }
    inside = compounds_under(place)
    registered = dict(
        session.execute(
            select(Household.compound_id, func.count())
            .where(Household.compound_id.in_(inside), Household.registered)
            .group_by(Household.compound_id)
        ).all()
    )
    active = dict(
        session.execute(
            select(HouseholdDay.compound_id, func.count(func.distinct(HouseholdDay.household_id)))
            .join(Household, Household.id == HouseholdDay.household_id)
            .where(
                Household.registered,
                HouseholdDay.compound_id.in_(inside),
                HouseholdDay.day >= start,
                HouseholdDay.day <= end,
            )
            .group_by(HouseholdDay.compound_id)
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for pid, code, name in compounds:
        counts = rates(sums.get(pid, {}))
        rows.append(
            {
                "place": code,
                "name": name,
                "accuracy": counts["accuracy"],
                "participation": participation(active.get(pid, 0), registered.get(pid, 0)),
                "dropoffs": counts["dropoffs"],
                "score": scores.get(code, (None, None))[0],
                "grade": scores.get(code, (None, None))[1],
            }
        )
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["place"]))
    return [{"rank": i + 1, **r} for i, r in enumerate(rows)]
