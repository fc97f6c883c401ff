"""Where a street's scheme lives: its own (uploaded, stored with the street) or the default."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.assessment.scheme import Scheme, SchemeError, default_scheme, default_text, parse
from api.db.models import AssessmentScheme, Place, PlaceKind

log = logging.getLogger(__name__)


def street_of(session: Session, place: Place) -> Place | None:
    """The street a place belongs to (itself for a street; None above or outside streets)."""
    ids = [int(part) for part in place.path.strip("/").split("/") if part]
    return session.scalar(
        select(Place).where(Place.id.in_(ids), Place.kind == PlaceKind.STREET.value)
    )


def scheme_for(session: Session, street: Place | None) -> tuple[Scheme, str, str]:
    """(scheme, "street" or "default", its YAML text) in force for a street."""
    row = session.get(AssessmentScheme, street.id) if street is not None else None
    if row is not None:
        try:
            return parse(row.text), "street", row.text
        except SchemeError as exc:  # stored before a stricter check: say so, use the default
            log.error("street %s has an unusable scheme (%s); using the default", street, exc)
    return default_scheme(), "default", default_text()


def appeal_windows(session: Session, node: Place, default: int | None) -> dict[int, int | None]:
    """Compound id → the appeal window its street's scheme sets (days; None: deductions stand
    only once a supervisor confirms them), for every compound under `node`. A scheme that sets
    none leaves the service's `default` (`BINWATCH_POINTS__APPEAL_WINDOW_DAYS`)."""
    ancestors = [int(part) for part in node.path.strip("/").split("/") if part]
    streets = list(
        session.scalars(
            select(Place).where(
                Place.kind == PlaceKind.STREET.value,
                or_(Place.id.in_(ancestors), Place.path.startswith(node.path)),
            )
        )
    )
    windows = {}
    for street in streets:
        scheme, _, _ = scheme_for(session, street)
        windows[street.path] = (
            scheme.appeal_window_days if scheme.appeal_window_days is not None else default
        )
    out: dict[int, int | None] = {}
    compounds = session.execute(
        select(Place.id, Place.path).where(
            Place.kind == PlaceKind.COMPOUND.value, Place.path.startswith(node.path)
        )
    ).all()
    for compound_id, path in compounds:
        found = [w for p, w in windows.items() if path.startswith(p)]
        out[int(compound_id)] = found[0] if found else default
    return out


def save(session: Session, street: Place, text: str, user_id: int) -> Scheme:
    """Store a street's own scheme (validated first; SchemeError names every mistake)."""
    scheme = parse(text)
    row = session.get(AssessmentScheme, street.id)
    now = datetime.now(UTC)
    if row is None:
        session.add(
            AssessmentScheme(street_id=street.id, text=text, updated_by=user_id, updated_at=now)
        )
    else:
        row.text, row.updated_by, row.updated_at = text, user_id, now
    return scheme


def remove(session: Session, street: Place) -> bool:
    """Back to the default scheme; says whether the street had its own."""
    row = session.get(AssessmentScheme, street.id)
    if row is None:
        return False
    session.delete(row)
    return True
