"""Add counter deltas to `rollups` and `household_days` with one upsert per key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.db.models import HouseholdDay, Rollup

RollupKey = tuple[date, int, int, str]  # day, hour, compound id, bin category
HouseholdKey = tuple[date, int]  # day, household id


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _greatest(session: Session) -> Any:
    return func.greatest if session.get_bind().dialect.name == "postgresql" else func.max


def add_rollups(session: Session, deltas: Mapping[RollupKey, Mapping[str, float]]) -> None:
    table = Rollup.__table__
    for (day, hour, compound, category), delta in sorted(deltas.items()):
        if not delta:
            continue
        values = {"day": day, "hour": hour, "compound_id": compound, "category": category}
        row = {c.name: 0 for c in table.columns if c.name not in values} | dict(delta)
        stmt = _insert(session, table).values(**values, **row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["day", "hour", "compound_id", "category"],
            set_={k: table.c[k] + stmt.excluded[k] for k in delta},
        )
        session.execute(stmt)


def add_household_days(
    session: Session,
    deltas: Mapping[HouseholdKey, Mapping[str, float]],
    compounds: Mapping[int, int],
    last_seen: Mapping[HouseholdKey, datetime],
) -> None:
    table = HouseholdDay.__table__
    greatest = _greatest(session)
    for (day, household), delta in sorted(deltas.items()):
        seen = last_seen.get((day, household))
        row = {"dropoffs": 0, "correct": 0, "contaminated": 0, "uncertain": 0} | dict(delta)
        stmt = _insert(session, table).values(
            day=day, household_id=household, compound_id=compounds[household], last_seen=seen, **row
        )
        update: dict[str, Any] = {k: table.c[k] + stmt.excluded[k] for k in delta}
        if seen is not None:
            update["last_seen"] = func.coalesce(
                greatest(table.c.last_seen, stmt.excluded.last_seen), stmt.excluded.last_seen
            )
        if update:
            session.execute(
                stmt.on_conflict_do_update(index_elements=["day", "household_id"], set_=update)
            )
        else:
            session.execute(stmt.on_conflict_do_nothing())
