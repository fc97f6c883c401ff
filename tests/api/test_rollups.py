"""The counters ingest and reviews keep incrementally equal a rebuild from the events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.db.models import HouseholdDay, Rollup
from api.rollups import rebuild
from tests.api.test_stats import seed
from tests.api.world import World, event, local


def snapshot(world: World) -> tuple[list[Any], list[Any]]:
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rollups = [
            (
                r.day,
                r.hour,
                r.compound_id,
                r.category,
                r.dropoffs,
                r.identified,
                r.correct,
                r.contaminated,
                r.uncertain,
                r.empty,
                r.model_correct,
                r.model_contaminated,
                round(r.weight_kg, 6),
                round(r.correct_weight_kg, 6),
            )
            for r in session.scalars(
                select(Rollup).order_by(
                    Rollup.day, Rollup.hour, Rollup.compound_id, Rollup.category
                )
            )
            if r.dropoffs
        ]
        days = [
            (
                d.day,
                d.household_id,
                d.compound_id,
                d.dropoffs,
                d.correct,
                d.contaminated,
                d.uncertain,
                d.last_seen.replace(tzinfo=None) if d.last_seen else None,
            )
            for d in session.scalars(
                select(HouseholdDay).order_by(HouseholdDay.day, HouseholdDay.household_id)
            )
        ]
    return rollups, days


def test_incremental_counters_equal_a_rebuild(world: World) -> None:
    seeded = seed(world)
    visit = event("B1", "kitchen", household="H6", at=local(11, 9))  # H6 lives in K2
    assert world.send("cam-ST1", [visit]).json()["results"][0]["status"] == "stored"
    queue = world.get("/api/v1/review/queue", "super_k1").json()
    wanted = {str(seeded["h2_kitchen_bad"].event_id), str(seeded["anon_unsure"].event_id)}
    for item in queue:
        if item["event"]["event_id"] in wanted:
            decision = (
                {"decision": "overturn"}
                if item["reason"] == "flagged"
                else {"decision": "confirm", "true_categories": ["other"]}
            )
            made = world.post(
                f"/api/v1/review/items/{item['id']}/decision", "super_k1", json=decision
            )
            assert made.status_code == 201, made.text
    incremental = snapshot(world)
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rebuild(session)
        session.commit()
    assert snapshot(world) == incremental
    assert len(incremental[0]) > 3 and len(incremental[1]) > 3
