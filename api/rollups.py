"""Add counter deltas to `rollups` and `household_days`: one batched upsert per table."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.db.models import Household, HouseholdDay, Rollup
from api.db.partitions import retired_through

RollupKey = tuple[date, int, int, str]  # day, hour, compound id, bin category
HouseholdKey = tuple[date, int]  # day, household id


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _insert(dialect: str, table: Any) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


ROLLUP_KEYS = ("day", "hour", "compound_id", "category")
ROLLUP_COUNTERS = tuple(c.name for c in Rollup.__table__.columns if c.name not in ROLLUP_KEYS)
DAY_COUNTERS = ("dropoffs", "correct", "contaminated", "uncertain", "confirmed")


def add_rollups(session: Session, deltas: Mapping[RollupKey, Mapping[str, float]]) -> None:
    """One executemany of `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`."""
    rows = [
        dict(zip(ROLLUP_KEYS, key, strict=True)) | {c: delta.get(c, 0) for c in ROLLUP_COUNTERS}
        for key, delta in sorted(deltas.items())
        if any(delta.values())
    ]
    if rows:
        session.execute(_rollup_upsert(_dialect(session)), rows)


def add_household_days(
    session: Session,
    deltas: Mapping[HouseholdKey, Mapping[str, float]],
    compounds: Mapping[int, int] | None = None,
    last_seen: Mapping[HouseholdKey, datetime] | None = None,
) -> None:
    """Same for the per-household days, which count for the household's own compound wherever
    it dropped off (looked up here; `compounds` is ignored); `last_seen` only moves forward."""
    if not deltas:
        return
    del compounds
    wanted = {household for _, household in deltas}
    home = dict(
        session.execute(
            select(Household.id, Household.compound_id).where(Household.id.in_(wanted))
        ).all()
    )
    last_seen = last_seen or {}
    rows = [
        {
            "day": day,
            "household_id": household,
            "compound_id": home[household],
            "last_seen": last_seen.get((day, household)),
        }
        | {c: delta.get(c, 0) for c in DAY_COUNTERS}
        for (day, household), delta in sorted(deltas.items())
    ]
    if rows:
        session.execute(_household_day_upsert(_dialect(session)), rows)


# The two upserts are built once per dialect: building `excluded` proxies every column of the
# table, which was a sixth of a one-event post's CPU when done per call.
@functools.cache
def _rollup_upsert(dialect: str) -> Any:
    table = Rollup.__table__
    stmt = _insert(dialect, table)
    return stmt.on_conflict_do_update(
        index_elements=list(ROLLUP_KEYS),
        set_={c: table.c[c] + stmt.excluded[c] for c in ROLLUP_COUNTERS},
    )


@functools.cache
def _household_day_upsert(dialect: str) -> Any:
    table = HouseholdDay.__table__
    stmt = _insert(dialect, table)
    update: dict[str, Any] = {c: table.c[c] + stmt.excluded[c] for c in DAY_COUNTERS}
    greatest = func.greatest if dialect == "postgresql" else func.max
    update["last_seen"] = func.coalesce(
        greatest(table.c.last_seen, stmt.excluded.last_seen),
        table.c.last_seen,
        stmt.excluded.last_seen,
    )
    return stmt.on_conflict_do_update(index_elements=["day", "household_id"], set_=update)


_REBUILD_ROLLUPS = """
INSERT INTO rollups (day, hour, compound_id, category, dropoffs, identified, correct,
                     contaminated, uncertain, empty, model_correct, model_contaminated,
                     weight_kg, correct_weight_kg)
SELECT day, hour, compound_id, category, COUNT(*), COUNT(household_id),
       SUM(CASE WHEN final_verdict = 'correct' THEN 1 ELSE 0 END),
       SUM(CASE WHEN final_verdict = 'contaminated' THEN 1 ELSE 0 END),
       SUM(CASE WHEN final_verdict = 'uncertain' THEN 1 ELSE 0 END),
       SUM(CASE WHEN final_verdict = 'empty' THEN 1 ELSE 0 END),
       SUM(CASE WHEN verdict = 'correct' THEN 1 ELSE 0 END),
       SUM(CASE WHEN verdict = 'contaminated' THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN final_verdict IN ('correct', 'contaminated')
                         THEN weight_kg END), 0),
       COALESCE(SUM(CASE WHEN final_verdict = 'correct' THEN weight_kg END), 0)
FROM events WHERE day >= :since GROUP BY day, hour, compound_id, category
"""
_REBUILD_HOUSEHOLD_DAYS = """
INSERT INTO household_days (day, household_id, compound_id, dropoffs, correct, contaminated,
                            uncertain, confirmed, last_seen)
SELECT day, household_id, (SELECT households.compound_id FROM households
                           WHERE households.id = events.household_id), COUNT(*),
       SUM(CASE WHEN final_verdict = 'correct' THEN 1 ELSE 0 END),
       SUM(CASE WHEN final_verdict = 'contaminated' THEN 1 ELSE 0 END),
       SUM(CASE WHEN final_verdict = 'uncertain' THEN 1 ELSE 0 END),
       SUM(CASE WHEN reviewed AND final_verdict = 'contaminated' THEN 1 ELSE 0 END),
       MAX(captured_at)
FROM events WHERE household_id IS NOT NULL AND day >= :since GROUP BY day, household_id
"""


def rebuild(session: Session) -> None:
    """Recompute every counter from the events (repair, backfill, or a bulk load); ingest and
    reviews keep the same numbers incrementally. The counters of retired months (their events
    exported and dropped, api/event_retention.py) are kept as they are."""
    since = retired_through(session) or date.min
    params = {"since": since}
    session.execute(text("DELETE FROM rollups WHERE day >= :since"), params)
    session.execute(text("DELETE FROM household_days WHERE day >= :since"), params)
    session.execute(text(_REBUILD_ROLLUPS), params)
    session.execute(text(_REBUILD_HOUSEHOLD_DAYS), params)
