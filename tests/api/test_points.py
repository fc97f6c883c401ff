"""Points that are fair: a deduction stands once a supervisor confirms it or, by the street's
choice, once its appeal window passes without an appeal; until then it is pending, costs
nothing, and shows as pending on the household list and on the resident's appeal page. An open
appeal makes a deduction pending again."""

from __future__ import annotations

from typing import Any

from api.security import appeal_code
from tests.api.test_stats import PERIOD, seed
from tests.api.world import World, event


def accounts(world: World) -> dict[str, tuple[int, int, int]]:
    """household → (points, standing deductions, pending deductions)"""
    rows = world.get("/api/v1/stats/households", "super_k1", place="K1", **PERIOD).json()
    return {
        r["household"]: (r["points"], r["deductions"], r["pending_deductions"])
        for r in rows
        if r["household"] in ("H1", "H2")
    }


def status(world: World, made: Any) -> dict[str, Any]:
    response = world.client.get(f"/api/v1/public/appeals/{appeal_code(made.event_id)}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def decide(world: World, made: Any, decision: str) -> None:
    items = world.get("/api/v1/review/queue", "super_k1", limit="500").json()
    item = next(i for i in items if i["event"]["event_id"] == str(made.event_id))
    response = world.post(
        f"/api/v1/review/items/{item['id']}/decision", "super_k1", json={"decision": decision}
    )
    assert response.status_code == 201, response.text


def test_a_deduction_waits_for_a_supervisor(world: World) -> None:
    e = seed(world)
    # H1: one correct, two flags; H2: one correct, one flag (all unreviewed)
    assert accounts(world) == {"H1": (2, 0, 2), "H2": (2, 0, 1)}
    slip = status(world, e["h1_recycl_bad"])
    assert (slip["deduction"], slip["points"], slip["pending_points"]) == ("pending", 0, -1)
    assert slip["stands_on"] is None and slip["can_appeal"] and slip["appeal"] == "none"
    assert not slip["reviewed"] and slip["station"] == "ST1"

    decide(world, e["h1_recycl_bad"], "confirm")
    assert accounts(world)["H1"] == (1, 1, 1)
    slip = status(world, e["h1_recycl_bad"])
    assert (slip["deduction"], slip["points"], slip["reviewed"]) == ("standing", -1, True)

    decide(world, e["h2_kitchen_bad"], "overturn")  # a peel after all: +2, nothing pending
    assert accounts(world)["H2"] == (4, 0, 0)
    assert status(world, e["h2_kitchen_bad"])["deduction"] == "none"
    assert not status(world, e["h2_kitchen_bad"])["can_appeal"]

    # the resident appeals the confirmed one: pending again until the second review
    appealed = world.client.post(
        "/api/v1/public/appeals", json={"code": appeal_code(e["h1_recycl_bad"].event_id)}
    )
    assert appealed.status_code == 201, appealed.text
    slip = status(world, e["h1_recycl_bad"])
    assert (slip["deduction"], slip["appeal"], slip["can_appeal"]) == ("pending", "open", False)
    assert accounts(world)["H1"] == (2, 0, 2)


def test_the_streets_appeal_window(world: World) -> None:
    e = seed(world)  # drop-offs on 10 and 11 November
    world.settings.points.appeal_window_days = 365  # not passed yet: pending, with its day
    slip = status(world, e["h2_kitchen_bad"])
    assert (slip["deduction"], slip["stands_on"]) == ("pending", "2027-11-10")
    assert accounts(world) == {"H1": (2, 0, 2), "H2": (2, 0, 1)}

    world.settings.points.appeal_window_days = 7  # passed without appeal: the flags stand
    assert accounts(world) == {"H1": (0, 2, 0), "H2": (1, 1, 0)}
    assert status(world, e["h2_kitchen_bad"])["deduction"] == "standing"
    appealed = world.client.post(
        "/api/v1/public/appeals", json={"code": appeal_code(e["h1_other_bad"].event_id)}
    )
    assert appealed.status_code == 201  # a late appeal still suspends it
    assert accounts(world)["H1"] == (1, 1, 1)
    assert status(world, e["h1_other_bad"])["deduction"] == "pending"


def test_an_unknown_code(world: World) -> None:
    assert world.client.get("/api/v1/public/appeals/0000-0000-0000").status_code == 404
    assert world.client.get("/api/v1/public/appeals/not-a-code").status_code == 404


def test_the_window_is_the_streets_choice(world: World) -> None:
    """S1's own scheme sets a 7-day window; the service-wide setting has none."""
    from api.assessment.scheme import default_text

    e = seed(world)
    assert world.settings.points.appeal_window_days is None
    scheme = default_text().replace("appeal_window_days: null", "appeal_window_days: 7")
    put = world.client.put(
        "/api/v1/assessment/scheme",
        params={"street": "S1"},
        content=scheme.encode(),
        headers=world.auth("admin"),
    )
    assert put.status_code == 200, put.text
    assert accounts(world) == {"H1": (0, 2, 0), "H2": (1, 1, 0)}
    assert status(world, e["h2_kitchen_bad"])["deduction"] == "standing"
    # S2's households are untouched: K3's flags still wait for a supervisor
    rural = world.send(
        "cam-ST3", [event("B7", "kitchen", "other", verdict="contaminated", household="H7")]
    )
    assert rural.status_code == 200
    k3 = world.get("/api/v1/stats/households", "admin", place="K3", **PERIOD).json()
    assert [(r["household"], r["deductions"], r["pending_deductions"]) for r in k3] == [
        ("H7", 0, 1)
    ]
