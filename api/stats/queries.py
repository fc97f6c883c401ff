"""Statistics over any node of the place tree, from the rollups (never the raw events)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from api.db.models import Event, Household, HouseholdDay, Place, PlaceKind, Rollup
from api.settings import Points
from api.stats.correction import ReviewedCounts, corrected_accuracy
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


def reviewed_counts(
    session: Session, place: Place, start: date, end: date
) -> dict[str, Counter[tuple[str, str, bool]]]:
    """Per bin category: reviewed events by (model verdict, final verdict, audit-sampled)."""
    rows = session.execute(
        select(Event.category, Event.verdict, Event.final_verdict, Event.audit, func.count())
        .where(
            Event.compound_id.in_(compounds_under(place)),
            Event.day >= start,
            Event.day <= end,
            Event.reviewed,
        )
        .group_by(Event.category, Event.verdict, Event.final_verdict, Event.audit)
    ).all()
    out: dict[str, Counter[tuple[str, str, bool]]] = {}
    for category, model, final, audit, n in rows:
        out.setdefault(category, Counter())[(model, final, bool(audit))] += int(n)
    return out


def audit_evidence(reviewed: dict[str, Counter[tuple[str, str, bool]]]) -> ReviewedCounts:
    """The model's error rates from the reviews in the place and period, pooled over bins: the
    random audit sample for misses, the reviewed flags for false flags."""
    pooled: Counter[tuple[str, str, bool]] = sum(reviewed.values(), Counter())
    audited = {k: n for k, n in pooled.items() if k[0] == "correct" and k[2]}
    flagged = {k: n for k, n in pooled.items() if k[0] == "contaminated"}
    return ReviewedCounts(
        audited=sum(n for (_, f, _), n in audited.items() if f in ("correct", "contaminated")),
        audited_contaminated=sum(n for (_, f, _), n in audited.items() if f == "contaminated"),
        flagged_reviewed=sum(
            n for (_, f, _), n in flagged.items() if f in ("correct", "contaminated")
        ),
        flagged_overturned=sum(n for (_, f, _), n in flagged.items() if f == "correct"),
    )


def corrected(
    counts: dict[str, Any], reviewed: Counter[tuple[str, str, bool]], evidence: ReviewedCounts
) -> dict[str, Any]:
    reviewed_correct = sum(n for (_, f, _), n in reviewed.items() if f == "correct")
    reviewed_bad = sum(n for (_, f, _), n in reviewed.items() if f == "contaminated")
    result = corrected_accuracy(
        reviewed_correct,
        reviewed_bad,
        max(0, int(counts.get("correct") or 0) - reviewed_correct),
        max(0, int(counts.get("contaminated") or 0) - reviewed_bad),
        evidence,
    )
    return {
        "accuracy": result.accuracy,
        "low": result.low,
        "high": result.high,
        "miss_rate": result.miss_rate,
        "false_flag_rate": result.false_flag_rate,
        "audited": evidence.audited,
        "flags_reviewed": evidence.flagged_reviewed,
    }


def summary(
    session: Session, place: Place, start: date, end: date, bucket: str, zone: ZoneInfo
) -> dict[str, Any]:
    where = _in_period(place, start, end)
    totals = session.execute(select(*_sums()).where(where)).one()._asdict()
    reviewed = reviewed_counts(session, place, start, end)
    evidence = audit_evidence(reviewed)
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
            "corrected": corrected(values, reviewed.get(values["category"], Counter()), evidence),
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
            "corrected": corrected(totals, sum(reviewed.values(), Counter()), evidence),
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
    follow_up: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Per household over the period; with `follow_up`, those to visit first: negative points or
    the lowest accuracy (at least three scored drop-offs), worst first."""
    h = HouseholdDay
    stmt = (
        select(
            Household.code,
            Place.code.label("compound"),
            func.sum(h.dropoffs).label("d"),
            func.sum(h.correct).label("c"),
            func.sum(h.contaminated).label("x"),
            func.sum(h.uncertain).label("u"),
            func.max(h.last_seen).label("seen"),
        )
        .join(Household, Household.id == h.household_id)
        .join(Place, Place.id == h.compound_id)
        .where(h.compound_id.in_(compounds_under(place)), h.day >= start, h.day <= end)
        .group_by(Household.code, Place.code)
    )
    out: list[dict[str, Any]] = []
    for code, compound, d, c, x, u, seen in session.execute(stmt).all():
        scored = int(c) + int(x)
        out.append(
            {
                "household": code,
                "compound": compound,
                "dropoffs": int(d),
                "scored": scored,
                "correct": int(c),
                "contaminated": int(x),
                "accuracy": ratio(int(c), scored),
                "points": points(int(c), int(x), int(u), rules),
                "last_seen": seen,
            }
        )
    if follow_up:
        out = [r for r in out if r["points"] < 0 or (r["scored"] >= 3 and r["accuracy"] < 0.8)]
        out.sort(key=lambda r: (r["accuracy"] if r["accuracy"] is not None else 1, r["points"]))
    else:
        out.sort(key=lambda r: (-r["points"], r["household"]))
    return out[:limit]


def rankings(session: Session, place: Place, start: date, end: date) -> list[dict[str, Any]]:
    """The compounds under a street or district, best accuracy first."""
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
            }
        )
    rows.sort(
        key=lambda r: (
            r["accuracy"] is None,
            -(r["accuracy"] or 0),
            -(r["participation"] or 0),
            r["place"],
        )
    )
    return [{"rank": i + 1, **r} for i, r in enumerate(rows)]
