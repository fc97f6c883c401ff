"""The audit share: one place (the service) decides it per station, from the compound's recent
drop-offs, the month's audit target and its supervisors' review budget; devices poll it from
`GET /api/v1/device/config`. The pure rule first, then the route on a real database."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest

from api.sampling import choose_share
from tests.api.world import World, event

RULE = {"floor": 0.01, "ceiling": 0.5, "default": 0.05}


@pytest.mark.parametrize(
    ("target", "sampled", "per_day", "days_left", "room", "share", "why"),
    [
        (45, 0, 0.0, 30, 300, 0.05, "no drop-offs"),  # no history: the default
        (45, 0, 100.0, 30, 300, 45 / 3000, "45 more audits"),  # spread over the month
        (45, 15, 100.0, 10, 300, 30 / 1000, "30 more audits"),  # what is left, in what is left
        (45, 45, 100.0, 10, 300, 0.01, "target is sampled"),  # done: the floor
        (45, 50, 100.0, 10, 300, 0.01, "target is sampled"),
        (45, 0, 10.0, 1, 300, 0.5, "capped"),  # would be 4.5: the ceiling
        (45, 0, 10.0, 30, 1.0, 0.1, "capped"),  # 0.15 wanted, room for 1 review a day of 10
        (45, 0, 10.0, 30, 0.0, 0.01, "capped"),  # no room at all: still the floor
        (45, 0, 100.0, 0, 300, 0.45, "45 more audits"),  # the last day counts as one
    ],
)
def test_choose_share(
    target: int,
    sampled: int,
    per_day: float,
    days_left: float,
    room: float,
    share: float,
    why: str,
) -> None:
    got, reason = choose_share(
        target=target,
        sampled=sampled,
        correct_per_day=per_day,
        days_left=days_left,
        room_per_day=room,
        **RULE,
    )
    assert got == pytest.approx(share)
    assert why in reason


def test_device_config_before_any_history(world: World) -> None:
    response = world.get("/api/v1/device/config", "cam-ST2")
    assert response.status_code == 200, response.text
    config = response.json()
    assert config["station"] == "ST2" and config["profile"] == "shanghai"
    assert config["model"] is None  # answers while no model is registered (/device/model: 404)
    assert config["audit_share"] == world.settings.audit_share
    plan = config["audit"]
    assert plan["share"] == config["audit_share"] and plan["sampled"] == 0
    assert plan["target"] == round(world.settings.min_audits * world.settings.audit_target_factor)
    assert "default" in plan["why"]


def history(world: World, per_day: int, days: int, flagged_per_day: int = 0) -> None:
    """`per_day` model-correct drop-offs a day (and flagged ones) at ST1 for the last `days`."""
    now = datetime.now(UTC)
    made = []
    for back in range(1, days + 1):
        at = now - timedelta(days=back)
        made += [event("B1", "kitchen", at=at) for _ in range(per_day)]
        made += [
            event("B1", "kitchen", "other", verdict="contaminated", at=at)
            for _ in range(flagged_per_day)
        ]
    for start in range(0, len(made), 500):
        assert world.send("cam-ST1", made[start : start + 500]).status_code == 200


def test_share_adapts_to_the_station_and_the_budget(world: World) -> None:
    history(world, per_day=10, days=28, flagged_per_day=2)
    plan = world.get("/api/v1/device/config", "cam-ST1").json()["audit"]
    assert plan["correct_per_day"] == pytest.approx(10)
    # super_k1 covers K1 alone: the whole budget, less the flags it reviews anyway
    assert plan["review_room_per_day"] == pytest.approx(world.settings.review_budget - 2)
    target = plan["target"]
    wanted, _ = choose_share(
        target=target,
        sampled=0,
        correct_per_day=10,
        days_left=_days_left_in_month(world),
        room_per_day=world.settings.review_budget - 2,
        floor=world.settings.audit_share_floor,
        ceiling=world.settings.audit_share_max,
        default=world.settings.audit_share,
    )
    assert plan["share"] == pytest.approx(wanted, abs=1e-6)
    assert world.settings.audit_share_floor <= plan["share"] <= world.settings.audit_share_max
    # enough audits expected at that share: the month's remaining drop-offs times it (the
    # share is reported to 6 decimals, so up to 5e-7 of it per drop-off may be rounded away)
    left = 10 * _days_left_in_month(world)
    assert (plan["share"] + 5e-7) * left >= target - 1e-6 or (
        plan["share"] == world.settings.audit_share_max
    )

    world.settings.review_budget = 3  # one supervisor, 3 reviews a day, 2 of them flags
    plan = world.get("/api/v1/device/config", "cam-ST1").json()["audit"]
    assert plan["review_room_per_day"] == pytest.approx(1)
    assert plan["share"] == pytest.approx(1 / 10)  # one audit a day of 10 correct drop-offs
    assert "budget" in plan["why"]

    # another station's compound has no history: the default, whatever K1 does
    assert world.get("/api/v1/device/config", "cam-ST2").json()["audit_share"] == (
        world.settings.audit_share
    )


def _days_left_in_month(world: World) -> int:
    today = datetime.now(UTC).astimezone(world.settings.zone).date()
    return calendar.monthrange(today.year, today.month)[1] - today.day + 1


def test_a_user_is_not_a_device(world: World) -> None:
    assert world.get("/api/v1/device/config", "admin").status_code in (401, 403)
    assert world.get("/api/v1/device/config", None).status_code == 401
