"""The audit share each station's devices sample at: the one place that decides it.

Devices keep exactly this share of the drop-offs their model judges correct as audit evidence
(they learn it from `GET /api/v1/device/config`, and record it on each event), and the service
queues every one. The share adapts per station so that its compound reaches the minimum number
of decided audits in the month (`Settings.min_audits`, aimed at `audit_target_factor` times that,
since some audits wait in a backlog or end `unclear`) without more audit work than its
supervisors have room for:

    wanted  = (target − audits sampled this month) / (model-correct drop-offs expected in the
              rest of the month)                 [from the compound's last 28 days of rollups]
    ceiling = (supervisor review budget left after its flagged and uncertain drop-offs per day)
              / (model-correct drop-offs per day)
    share   = clip(wanted, floor, max(floor, min(ceiling, audit_share_max)))

A supervisor's daily budget (`Settings.review_budget`) is split evenly over the compounds in
their jurisdiction. With no history yet, `Settings.audit_share` is used. `floor` keeps a little
audit everywhere, so the model's drift is always watched.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.models import Event, Place, PlaceKind, Role, Rollup, User, UserScope
from api.settings import Settings

HISTORY_DAYS = 28


@dataclass(frozen=True)
class AuditPlan:
    share: float
    month: str
    target: int  # audits to sample this month
    sampled: int  # audits sampled so far this month
    correct_per_day: float  # model-correct drop-offs per day, last 28 days
    review_room_per_day: float  # supervisor reviews a day left for audits
    why: str


def choose_share(
    *,
    target: int,
    sampled: int,
    correct_per_day: float,
    days_left: float,
    room_per_day: float,
    floor: float,
    ceiling: float,
    default: float,
) -> tuple[float, str]:
    """The share (pure): see the module docstring."""
    if correct_per_day <= 0:
        return default, "no drop-offs in the last 28 days: the default share"
    needed = max(0, target - sampled)
    expected = correct_per_day * max(days_left, 1.0)
    wanted = needed / expected
    cap = max(floor, min(ceiling, room_per_day / correct_per_day))
    share = min(max(wanted, floor), cap)
    if needed == 0:
        why = "the month's target is sampled: the floor"
    elif wanted > cap:
        why = "capped by the supervisors' review budget"
    else:
        why = f"{needed} more audits over the rest of the month"
    return share, why


def plan_for_station(
    session: Session, station: Place, settings: Settings, now: datetime
) -> AuditPlan:
    compound_id = station.parent_id or station.id
    compound = session.get(Place, compound_id)
    assert compound is not None
    today = now.astimezone(settings.zone).date()
    first = today.replace(day=1)
    last = date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
    since = today - timedelta(days=HISTORY_DAYS)
    flagged, correct, days = session.execute(
        select(
            func.coalesce(func.sum(Rollup.model_contaminated), 0),
            func.coalesce(func.sum(Rollup.model_correct), 0),
            func.count(func.distinct(Rollup.day)),
        ).where(Rollup.compound_id == compound_id, Rollup.day >= since, Rollup.day < today)
    ).one()
    uncertain = session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.compound_id == compound_id,
            Event.day >= since,
            Event.day < today,
            Event.verdict == "uncertain",
        )
    )
    span = max(1, int(days))
    correct_per_day = float(correct) / span
    queued_per_day = (float(flagged) + float(uncertain or 0)) / span
    sampled = int(
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.compound_id == compound_id, Event.day >= first, Event.audit)
        )
        or 0
    )
    room = max(0.0, _review_budget(session, compound, settings) - queued_per_day)
    target = round(settings.min_audits * settings.audit_target_factor)
    share, why = choose_share(
        target=target,
        sampled=sampled,
        correct_per_day=correct_per_day,
        days_left=(last - today).days + 1,
        room_per_day=room,
        floor=settings.audit_share_floor,
        ceiling=settings.audit_share_max,
        default=settings.audit_share,
    )
    return AuditPlan(
        share=round(share, 6),
        month=first.strftime("%Y-%m"),
        target=target,
        sampled=sampled,
        correct_per_day=correct_per_day,
        review_room_per_day=room,
        why=why,
    )


def _review_budget(session: Session, compound: Place, settings: Settings) -> float:
    """Reviews a day the supervisors covering this compound can give it: each supervisor's
    budget split evenly over the compounds in their jurisdiction."""
    scopes = session.execute(
        select(UserScope.user_id, Place.path)
        .join(User, User.id == UserScope.user_id)
        .join(Place, Place.id == UserScope.place_id)
        .where(User.role == Role.SUPERVISOR.value, User.active)
    ).all()
    paths: dict[int, list[str]] = {}
    for user_id, path in scopes:
        paths.setdefault(user_id, []).append(path)
    budget = 0.0
    for user_paths in paths.values():
        if not any(compound.path.startswith(p) for p in user_paths):
            continue
        compounds = {
            cid
            for p in user_paths
            for cid in session.scalars(
                select(Place.id).where(
                    Place.kind == PlaceKind.COMPOUND.value, Place.path.startswith(p)
                )
            )
        }
        budget += settings.review_budget / max(1, len(compounds))
    return budget
