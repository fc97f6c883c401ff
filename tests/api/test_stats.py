"""Statistics computed by hand for a small known set of drop-offs, then moved by a review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.world import World, event, local

PERIOD = {"start": "2026-11-10", "end": "2026-11-11"}


def seed(world: World) -> dict[str, Any]:
    """K1 (registered H1-H4, unregistered H5) and K2 (H6); times are Shanghai local."""
    e = {
        "h1_kitchen": event("B1", "kitchen", household="H1", at=local(10, 9), weight=2.0),
        "h1_recycl_bad": event(
            "B2", "recyclable", "hazardous", verdict="contaminated", household="H1", at=local(10, 9)
        ),
        "h2_kitchen": event("B1", "kitchen", household="H2", at=local(10, 10), weight=1.0),
        "h2_kitchen_bad": event(
            "B1",
            "kitchen",
            "other",
            verdict="contaminated",
            household="H2",
            at=local(10, 10),
            weight=3.0,
        ),
        "anon_unsure": event("B4", "other", verdict="uncertain", at=local(10, 11)),
        "anon_empty": event("B3", verdict="empty", at=local(10, 11)),
        "h3_recycl": event("B2", "recyclable", household="H3", at=local(11, 8)),
        "h5_kitchen": event("B1", "kitchen", household="H5", at=local(11, 8)),
        "h1_other_bad": event(
            "B4", "other", "kitchen", verdict="contaminated", household="H1", at=local(11, 23)
        ),
        "outside": event("B1", "kitchen", household="H1", at=local(12, 0)),  # next day, local
    }
    response = world.send("cam-ST1", list(e.values()))
    assert {r["status"] for r in response.json()["results"]} == {"stored"}
    k2 = world.send("cam-ST2", [event("B5", "kitchen", household="H6", at=local(10, 12))])
    assert k2.json()["results"][0]["status"] == "stored"
    return e


def summary(world: World, place: str, who: str = "admin", **extra: str) -> dict[str, Any]:
    response = world.get("/api/v1/stats/summary", who, place=place, **PERIOD, **extra)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_compound_summary(world: World) -> None:
    seed(world)
    k1 = summary(world, "K1")
    totals = k1["totals"]
    assert (totals["dropoffs"], totals["identified"]) == (9, 7)
    assert (totals["correct"], totals["contaminated"], totals["uncertain"], totals["empty"]) == (
        4,
        3,
        1,
        1,
    )
    assert totals["scored"] == 7 and totals["accuracy"] == pytest.approx(4 / 7)
    assert (k1["registered_households"], k1["participating_households"]) == (4, 3)
    assert k1["participation"] == pytest.approx(0.75)
    kitchen = next(c for c in k1["by_category"] if c["category"] == "kitchen")
    assert (kitchen["correct"], kitchen["contaminated"]) == (3, 1)
    assert k1["kitchen_purity"] == pytest.approx(0.75)
    assert kitchen["purity_by_weight"] == pytest.approx(3.0 / 6.0)
    other = next(c for c in k1["by_category"] if c["category"] == "other")
    assert other["contamination"] == pytest.approx(1.0)  # one scored, contaminated
    assert [b["dropoffs"] for b in k1["buckets"]] == [6, 3]
    hours = summary(world, "K1", bucket="hour")["buckets"]
    assert [(b["start"][:16], b["dropoffs"]) for b in hours] == [
        ("2026-11-10T09:00", 2),
        ("2026-11-10T10:00", 2),
        ("2026-11-10T11:00", 2),
        ("2026-11-11T08:00", 2),
        ("2026-11-11T23:00", 1),
    ]


def test_tree_nodes_add_up_and_rank(world: World) -> None:
    seed(world)
    street = summary(world, "S1")
    assert street["totals"]["dropoffs"] == 10 and street["registered_households"] == 5
    assert street["participation"] == pytest.approx(4 / 5)
    district = summary(world, "D1")
    assert district["totals"]["dropoffs"] == 10 and district["registered_households"] == 6
    ranks = world.get("/api/v1/stats/rankings", "office_s1", place="S1", **PERIOD).json()
    # K2's raw accuracy is 100 %, K1's 4 of 7; neither has audits, so neither has a score:
    # raw accuracy does not rank them (listed by code, scores withheld)
    assert [(r["rank"], r["place"], r["score"]) for r in ranks] == [
        (1, "K1", None),
        (2, "K2", None),
    ]
    assert ranks[0]["accuracy"] == pytest.approx(4 / 7) and ranks[1]["accuracy"] == 1.0


def test_households_points_and_follow_up(world: World) -> None:
    seed(world)
    rows = world.get("/api/v1/stats/households", "super_k1", place="K1", **PERIOD).json()
    points = {r["household"]: r["points"] for r in rows}
    # correct +2; the model's flags cost nothing until confirmed: pending
    assert points == {"H1": 2, "H2": 2, "H3": 2, "H5": 2}
    assert {r["household"]: r["pending_deductions"] for r in rows} == {
        "H1": 2,
        "H2": 1,
        "H3": 0,
        "H5": 0,
    }
    h1 = next(r for r in rows if r["household"] == "H1")
    assert (h1["dropoffs"], h1["scored"], h1["correct"]) == (3, 3, 1)
    assert h1["last_seen"].startswith("2026-11-11T15:00")  # 23:00 Shanghai
    follow = world.get(
        "/api/v1/stats/households", "super_k1", place="K1", follow_up="true", **PERIOD
    ).json()
    assert [r["household"] for r in follow] == ["H1"]


def test_a_review_moves_every_statistic(world: World) -> None:
    seeded = seed(world)
    queue = world.get("/api/v1/review/queue", "super_k1").json()
    flagged = next(
        i for i in queue if i["event"]["event_id"] == str(seeded["h2_kitchen_bad"].event_id)
    )
    decision = {"decision": "overturn", "note": "a peel, not a tissue"}
    made = world.post(f"/api/v1/review/items/{flagged['id']}/decision", "super_k1", json=decision)
    assert made.status_code == 201, made.text
    assert made.json()["verdict"] == "correct"
    totals = summary(world, "K1")["totals"]
    assert (totals["correct"], totals["contaminated"]) == (5, 2)
    rows = world.get("/api/v1/stats/households", "admin", place="K1", **PERIOD).json()
    assert {r["household"]: r["points"] for r in rows}["H2"] == 4
    from api.ingest import sampled

    in_sample = sampled(seeded["h2_kitchen_bad"].event_id, world.settings.flag_sample_share)
    assert totals["corrected"]["flags_reviewed"] == int(in_sample)  # the random flag sample only
    assert totals["corrected"]["accuracy"] is None  # no audits: no corrected number
    assert totals["corrected"]["reason"] == "not enough audits (0)"


def test_statistics_refuse_bad_periods_and_stations(world: World) -> None:
    assert (
        world.get(
            "/api/v1/stats/summary", "admin", place="K1", start="2026-11-11", end="2026-11-10"
        ).status_code
        == 422
    )
    assert world.get("/api/v1/stats/summary", "admin", place="ST1", **PERIOD).status_code == 422
    assert world.get("/api/v1/stats/summary", "admin", place="NOPE", **PERIOD).status_code == 404


def test_a_household_counts_for_its_own_compound(world: World) -> None:
    """H6 lives in K2 and drops off at K1's station: K2's participant, K1's drop-off."""
    seed(world)
    visit = event("B1", "kitchen", "other", verdict="contaminated", household="H6", at=local(11, 9))
    assert world.send("cam-ST1", [visit]).json()["results"][0]["status"] == "stored"
    k1, k2 = summary(world, "K1"), summary(world, "K2")
    assert (k1["participating_households"], k1["registered_households"]) == (3, 4)  # H1-H3
    assert (k2["participating_households"], k2["registered_households"]) == (1, 1)
    assert k1["participation"] <= 1 and k2["participation"] == 1.0
    assert k1["totals"]["contaminated"] == 4  # the bin is K1's responsibility
    assert k2["totals"]["dropoffs"] == 1
    accounts = world.get("/api/v1/stats/households", "admin", place="K2", **PERIOD).json()
    assert [(r["household"], r["compound"], r["dropoffs"]) for r in accounts] == [("H6", "K2", 2)]
    k1_accounts = world.get("/api/v1/stats/households", "admin", place="K1", **PERIOD).json()
    assert "H6" not in {r["household"] for r in k1_accounts}


def test_today_is_the_services_day(world: World) -> None:
    """Pages and `binwatch retrain` take their default period from the service's day: at 22:00
    UTC it is already tomorrow in Shanghai, and today's drop-offs are counted there."""
    zone = world.settings.zone
    before = datetime.now(UTC).astimezone(zone).date()
    answer = world.get("/api/v1/stats/today", "office_s1").json()
    after = datetime.now(UTC).astimezone(zone).date()  # a midnight may pass in between
    assert answer["timezone"] == world.settings.timezone
    assert answer["today"] in {str(before), str(after)}
    assert answer["month"] == answer["today"][:7]
