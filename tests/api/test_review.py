"""The review queue: jurisdiction, claims, final decisions, supersession, appeals, reports."""

from __future__ import annotations

import hashlib
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Event, HouseholdDay, Rollup
from api.rollups import DAY_COUNTERS, ROLLUP_COUNTERS, ROLLUP_KEYS, rebuild
from api.security import appeal_code
from tests.api.world import PASSWORD, World, event, local
from tests.s3 import BOTH_STORES


def jpeg(colour: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    image = np.full((48, 64, 3), colour, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def flagged_event(household: str = "H1", **extra: Any) -> Any:
    return event(
        "B1",
        "kitchen",
        "hazardous",
        verdict="contaminated",
        household=household,
        at=local(10, 9),
        **extra,
    )


def queue(world: World, who: str, **params: str) -> list[dict[str, Any]]:
    response = world.get("/api/v1/review/queue", who, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def add_user(
    world: World, name: str, role: str = "supervisor", scope: tuple[str, ...] = ()
) -> None:
    body = {"username": name, "password": PASSWORD, "role": role, "scope": list(scope)}
    assert world.post("/api/v1/users", "admin", json=body).status_code == 201
    login = world.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    world.tokens[name] = login.json()["token"]


State = dict[str, Any]


def _counters(session: Session) -> State:
    """Every counter row (all-zero ones left out) and every event's final verdict."""
    rollups = {
        tuple(getattr(r, k) for k in ROLLUP_KEYS): {c: getattr(r, c) for c in ROLLUP_COUNTERS}
        for r in session.scalars(select(Rollup).execution_options(populate_existing=True))
    }
    days = {
        (d.day, d.household_id, d.compound_id): {c: getattr(d, c) for c in DAY_COUNTERS}
        for d in session.scalars(select(HouseholdDay).execution_options(populate_existing=True))
    }
    return {
        "rollups": {k: v for k, v in rollups.items() if any(v.values())},
        "household_days": {k: v for k, v in days.items() if any(v.values())},
    }


def state(world: World) -> State:
    """The counters as stored, and each event's (final verdict, reviewed)."""
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        events = {
            str(e.event_id): (e.final_verdict, e.reviewed) for e in session.scalars(select(Event))
        }
        return _counters(session) | {"events": events}


def recount(world: World) -> State:
    """The counters recomputed from the events table (the rollup rebuild, rolled back)."""
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rebuild(session)
        counted = _counters(session)
        session.rollback()
        return counted


def assert_counts_match_events(world: World) -> State:
    now = state(world)
    assert {k: v for k, v in now.items() if k != "events"} == recount(world)
    return now


def undo(world: World, item: int, who: str) -> Any:
    return world.post(f"/api/v1/review/items/{item}/undo", who)


def test_queue_is_jurisdiction_filtered_and_newest_first(world: World) -> None:
    older = event("B1", "kitchen", "other", verdict="contaminated", at=local(10, 8))
    newer = event("B2", "recyclable", verdict="uncertain", at=local(10, 9))
    rural = event("B7", "kitchen", "hazardous", verdict="contaminated", at=local(10, 9))
    world.send("cam-ST1", [older, newer])
    world.send("cam-ST3", [rural])
    mine = queue(world, "super_k1")
    assert [i["event"]["event_id"] for i in mine] == [str(newer.event_id), str(older.event_id)]
    assert [i["reason"] for i in mine] == ["uncertain", "flagged"]
    assert [i["event"]["event_id"] for i in queue(world, "super_k3")] == [str(rural.event_id)]
    assert len(queue(world, "admin")) == 3
    assert world.get("/api/v1/review/queue", "office_s1").status_code == 403
    item = mine[0]["id"]
    other = queue(world, "super_k3")[0]["id"]
    assert world.post(f"/api/v1/review/items/{other}/claim", "super_k1").status_code == 404
    assert world.post(f"/api/v1/review/items/{item}/claim", "super_k3").status_code == 404


def test_claims_keep_two_supervisors_apart(world: World) -> None:
    world.send("cam-ST1", [flagged_event()])
    body = {
        "username": "super_k1b",
        "password": "correct horse battery",
        "role": "supervisor",
        "scope": ["C1"],
    }
    assert world.post("/api/v1/users", "admin", json=body).status_code == 201
    login = world.client.post(
        "/api/v1/auth/login", json={"username": "super_k1b", "password": body["password"]}
    )
    world.tokens["super_k1b"] = login.json()["token"]
    item = queue(world, "super_k1")[0]["id"]
    assert world.post(f"/api/v1/review/items/{item}/claim", "super_k1").status_code == 200
    assert queue(world, "super_k1b") == []  # claimed by someone else: not shown
    taken = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1b", json={"decision": "confirm"}
    )
    assert taken.status_code == 409 and "another supervisor" in taken.json()["detail"]
    mine = world.post(
        f"/api/v1/review/items/{item}/decision",
        "super_k1",
        json={"decision": "confirm", "true_categories": ["kitchen", "hazardous"]},
    )
    assert mine.status_code == 201 and mine.json()["verdict"] == "contaminated"
    again = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "overturn"}
    )
    assert again.status_code == 409  # final


@pytest.mark.parametrize(
    ("model", "decision", "categories", "expected"),
    [
        ("contaminated", "confirm", [], 201),
        ("contaminated", "overturn", [], 201),
        ("contaminated", "overturn", ["kitchen"], 201),
        ("contaminated", "overturn", ["kitchen", "other"], 422),  # categories say contaminated
        ("contaminated", "confirm", ["kitchen"], 422),  # categories say correct
        ("uncertain", "confirm", [], 422),  # an uncertain event needs the true categories
        ("uncertain", "confirm", ["kitchen"], 201),
        ("uncertain", "unclear", [], 201),
    ],
)
def test_decisions_must_agree_with_their_categories(
    world: World, model: str, decision: str, categories: list[str], expected: int
) -> None:
    items = ("kitchen", "hazardous") if model == "contaminated" else ("kitchen",)
    world.send("cam-ST1", [event("B1", *items, verdict=model, at=local(10, 9))])
    item = queue(world, "super_k1")[0]["id"]
    response = world.post(
        f"/api/v1/review/items/{item}/decision",
        "super_k1",
        json={"decision": decision, "true_categories": categories},
    )
    assert response.status_code == expected, response.text


def test_admin_supersedes_and_every_decision_is_kept(world: World) -> None:
    world.send("cam-ST1", [flagged_event()])
    item = queue(world, "super_k1")[0]["id"]
    world.post(f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "confirm"})
    assert (
        world.post(
            f"/api/v1/review/items/{item}/supersede", "super_k1", json={"decision": "overturn"}
        ).status_code
        == 403
    )
    response = world.post(
        f"/api/v1/review/items/{item}/supersede",
        "admin",
        json={"decision": "overturn", "note": "it was a peel"},
    )
    assert response.status_code == 201 and response.json()["verdict"] == "correct"
    history = world.get(f"/api/v1/review/items/{item}/reviews", "admin").json()
    assert [(r["decision"], r["superseded_by"]) for r in history] == [
        ("confirm", history[1]["id"]),
        ("overturn", None),
    ]
    totals = world.get(
        "/api/v1/stats/summary", "admin", place="K1", start="2026-11-10", end="2026-11-10"
    ).json()["totals"]
    assert (totals["correct"], totals["contaminated"]) == (1, 0)


def test_appeal_goes_to_a_second_reviewer(world: World) -> None:
    flagged = flagged_event()
    world.send("cam-ST1", [flagged])
    item = queue(world, "super_k1")[0]["id"]
    world.post(f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "confirm"})
    code = appeal_code(flagged.event_id)
    assert (
        world.client.post("/api/v1/public/appeals", json={"code": "0000-0000-0000"}).status_code
        == 404
    )
    made = world.client.post(
        "/api/v1/public/appeals", json={"code": code.upper(), "text": "it was all food"}
    )
    assert made.status_code == 201, made.text
    twice = world.client.post("/api/v1/public/appeals", json={"code": code})
    assert twice.status_code == 409
    appeal = queue(world, "super_k1", reason="appeal")[0]
    assert appeal["note"] == "it was all food"
    same = world.post(
        f"/api/v1/review/items/{appeal['id']}/decision", "super_k1", json={"decision": "overturn"}
    )
    assert same.status_code == 409 and "second reviewer" in same.json()["detail"]
    second = world.post(
        f"/api/v1/review/items/{appeal['id']}/decision", "admin", json={"decision": "overturn"}
    )
    assert second.status_code == 201 and second.json()["verdict"] == "correct"
    assert world.client.post("/api/v1/public/appeals", json={"code": code}).status_code == 409


@BOTH_STORES
def test_error_report_with_photo_enters_the_queue(world: World) -> None:
    photo = jpeg()
    response = world.client.post(
        "/api/v1/public/reports",
        data={"place": "ST1", "text": "battery in the kitchen bin"},
        files={"image": ("p.jpg", photo, "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    item = queue(world, "super_k1", reason="report")[0]
    assert item["note"] == "battery in the kitchen bin" and item["event"] is None
    image = world.get(item["report_image_url"], "super_k1")
    assert image.status_code == 200 and image.content.startswith(b"\xff\xd8")
    assert world.get(item["report_image_url"], "super_k3").status_code == 404
    bad = world.client.post(
        "/api/v1/public/reports",
        data={"place": "ST1"},
        files={"image": ("p.jpg", b"GIF89a...", "image/jpeg")},
    )
    assert bad.status_code == 422
    nowhere = world.client.post("/api/v1/public/reports", data={"place": "NOPE", "text": "x"})
    assert nowhere.status_code == 404


@BOTH_STORES
def test_evidence_upload_is_checked_and_reencoded(world: World) -> None:
    photo = jpeg()
    evidence = {
        "sha256": hashlib.sha256(photo).hexdigest(),
        "bytes": len(photo),
        "width": 64,
        "height": 48,
        "reason": "flagged",
    }
    flagged = flagged_event(evidence=evidence)
    world.send("cam-ST1", [flagged])
    url = f"/api/v1/ingest/evidence/{flagged.event_id}"
    headers = {**world.auth("cam-ST1"), "Content-Type": "image/jpeg"}
    wrong = world.client.put(url, content=jpeg((0, 0, 0)), headers=headers)
    assert wrong.status_code == 422 and "sha256" in wrong.json()["detail"]
    other = world.client.put(
        url, content=photo, headers={**world.auth("cam-ST2"), "Content-Type": "image/jpeg"}
    )
    assert other.status_code == 404
    stored = world.client.put(url, content=photo, headers=headers)
    assert stored.status_code == 200, stored.text
    assert (stored.json()["width"], stored.json()["height"]) == (64, 48)
    item = queue(world, "super_k1")[0]
    image = world.get(item["event"]["evidence_url"], "super_k1")
    decoded = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == (48, 64, 3)
    assert np.abs(decoded.astype(int) - (40, 120, 200)).max() < 12
    assert world.get(item["event"]["evidence_url"], "super_k3").status_code == 404


def test_evidence_that_is_not_a_jpeg_is_refused(world: World) -> None:
    junk = b"\xff\xd8\xff" + b"\x00" * 100  # JPEG magic, no image
    evidence = {
        "sha256": hashlib.sha256(junk).hexdigest(),
        "bytes": len(junk),
        "width": 4,
        "height": 4,
        "reason": "flagged",
    }
    flagged = flagged_event(evidence=evidence)
    world.send("cam-ST1", [flagged])
    response = world.client.put(
        f"/api/v1/ingest/evidence/{flagged.event_id}",
        content=junk,
        headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 422 and "does not decode" in response.json()["detail"]
    world.settings.max_evidence_bytes = 50_000
    big = world.client.put(
        f"/api/v1/ingest/evidence/{flagged.event_id}",
        content=b"\xff" * 60_000,
        headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
    )
    assert big.status_code == 413


@BOTH_STORES
def test_retention_deletes_old_evidence_only(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from api.retention import purge_evidence
    from api.storage import evidence_for

    photo = jpeg()
    evidence = {
        "sha256": hashlib.sha256(photo).hexdigest(),
        "bytes": len(photo),
        "width": 64,
        "height": 48,
        "reason": "flagged",
    }
    old = flagged_event(evidence=evidence)
    new = flagged_event(evidence=evidence, captured_at=datetime.now(UTC).isoformat())
    world.send("cam-ST1", [old, new])
    for made in (old, new):
        stored = world.client.put(
            f"/api/v1/ingest/evidence/{made.event_id}",
            content=photo,
            headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
        )
        assert stored.status_code == 200
    store = evidence_for(world.settings)
    later = datetime(2026, 11, 10, tzinfo=UTC) + timedelta(days=world.settings.retention_days + 1)
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert purge_evidence(session, world.settings, later) == 1
        session.commit()
    assert store.get(old.event_id) is None and store.get(new.event_id) is not None
    summary = world.get(
        "/api/v1/stats/summary", "admin", place="K1", start="2026-11-10", end="2026-11-10"
    ).json()
    assert summary["totals"]["contaminated"] == 1  # the event and its counters stay


def test_undo_reopens_the_item_and_restores_the_counters(world: World) -> None:
    world.send("cam-ST1", [flagged_event()])
    item = queue(world, "super_k1")[0]["id"]
    made = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "overturn"}
    )
    assert made.json()["verdict"] == "correct"

    def totals() -> tuple[int, int]:
        t = world.get(
            "/api/v1/stats/summary", "admin", place="K1", start="2026-11-10", end="2026-11-10"
        ).json()["totals"]
        return t["correct"], t["contaminated"]

    assert totals() == (1, 0)
    assert world.post(f"/api/v1/review/items/{item}/undo", "admin").status_code == 409  # not theirs
    undone = world.post(f"/api/v1/review/items/{item}/undo", "super_k1")
    assert undone.status_code == 200 and undone.json()["withdrawn"]
    assert totals() == (0, 1)  # back to the model's verdict
    assert queue(world, "super_k1")[0]["id"] == item  # open again
    again = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "confirm"}
    )
    assert again.status_code == 201 and totals() == (0, 1)
    history = world.get(f"/api/v1/review/items/{item}/reviews", "super_k1").json()
    assert [(r["decision"], r["withdrawn"]) for r in history] == [
        ("overturn", True),
        ("confirm", False),
    ]
    world.settings.undo_minutes = 0
    assert world.post(f"/api/v1/review/items/{item}/undo", "super_k1").status_code == 409


def test_undo_of_a_supersede_restores_the_decision_it_replaced(world: World) -> None:
    flagged = flagged_event(weight=0.5)
    world.send("cam-ST1", [flagged, flagged_event("H2")])
    item = next(
        i["id"] for i in queue(world, "super_k1") if i["event"]["event_id"] == str(flagged.event_id)
    )
    first = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "overturn"}
    )
    assert first.status_code == 201 and first.json()["verdict"] == "correct"
    after_first = assert_counts_match_events(world)
    assert after_first["events"][str(flagged.event_id)] == ("correct", True)
    over = world.post(
        f"/api/v1/review/items/{item}/supersede", "admin", json={"decision": "confirm"}
    )
    assert over.status_code == 201 and over.json()["verdict"] == "contaminated"
    superseded = assert_counts_match_events(world)
    assert superseded != after_first
    assert superseded["events"][str(flagged.event_id)] == ("contaminated", True)

    add_user(world, "admin2", "admin")
    for who in ("super_k1", "admin2"):  # only the admin who superseded may undo it
        refused = undo(world, item, who)
        assert refused.status_code == 409 and "only they can undo" in refused.json()["detail"]
    assert state(world) == superseded
    undone = undo(world, item, "admin")
    assert undone.status_code == 200 and undone.json()["withdrawn"]
    assert assert_counts_match_events(world) == after_first
    history = world.get(f"/api/v1/review/items/{item}/reviews", "admin").json()
    assert [(r["decision"], r["superseded_by"], r["withdrawn"]) for r in history] == [
        ("overturn", None, False),
        ("confirm", None, True),
    ]
    decided = queue(world, "admin", state="decided")
    assert [i["id"] for i in decided] == [item]  # the first decision stands: still decided
    assert item not in [i["id"] for i in queue(world, "super_k1")]

    # the restored decision is the supervisor's own again: theirs to undo, back to the model
    mine = undo(world, item, "super_k1")
    assert mine.status_code == 200 and mine.json()["decision"] == "overturn"
    back = assert_counts_match_events(world)
    assert back["events"][str(flagged.event_id)] == ("contaminated", False)
    assert item in [i["id"] for i in queue(world, "super_k1")]


def test_undo_of_an_appeal_review_restores_the_first_decision(world: World) -> None:
    flagged = flagged_event(weight=0.5)
    world.send("cam-ST1", [flagged])
    original = queue(world, "super_k1")[0]["id"]
    first = world.post(
        f"/api/v1/review/items/{original}/decision", "super_k1", json={"decision": "confirm"}
    )
    assert first.status_code == 201 and first.json()["verdict"] == "contaminated"
    after_first = assert_counts_match_events(world)
    made = world.client.post("/api/v1/public/appeals", json={"code": appeal_code(flagged.event_id)})
    assert made.status_code == 201, made.text
    appeal = made.json()["id"]
    second = world.post(
        f"/api/v1/review/items/{appeal}/decision", "admin", json={"decision": "overturn"}
    )
    assert second.status_code == 201 and second.json()["verdict"] == "correct"
    overturned = assert_counts_match_events(world)
    assert overturned["events"][str(flagged.event_id)] == ("correct", True)
    assert overturned["household_days"] != after_first["household_days"]

    assert undo(world, appeal, "super_k1").status_code == 409  # the second review is not theirs
    assert undo(world, original, "super_k1").status_code == 409  # theirs no longer stands
    assert state(world) == overturned
    undone = undo(world, appeal, "admin")
    assert undone.status_code == 200 and undone.json()["withdrawn"]
    assert assert_counts_match_events(world) == after_first
    history = world.get(f"/api/v1/review/items/{original}/reviews", "admin").json()
    assert [(r["decision"], r["superseded_by"], r["withdrawn"]) for r in history] == [
        ("confirm", None, False)
    ]
    reopened = queue(world, "admin", reason="appeal")
    assert [(i["id"], i["claimed_by"]) for i in reopened] == [(appeal, "root")]
    assert (
        world.client.post(  # the appeal is open again, not a new one
            "/api/v1/public/appeals", json={"code": appeal_code(flagged.event_id)}
        ).status_code
        == 409
    )
    again = world.post(
        f"/api/v1/review/items/{appeal}/decision", "admin", json={"decision": "confirm"}
    )
    assert again.status_code == 201 and again.json()["verdict"] == "contaminated"
    assert assert_counts_match_events(world) == after_first


def test_undo_is_refused_to_others_late_or_twice_and_changes_nothing(world: World) -> None:
    world.send("cam-ST1", [flagged_event()])
    item = queue(world, "super_k1")[0]["id"]
    assert undo(world, item, "super_k1").status_code == 409  # nothing decided yet
    made = world.post(
        f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "overturn"}
    )
    assert made.status_code == 201
    decided = state(world)
    add_user(world, "super_k1b", scope=("K1",))
    for who in ("super_k1b", "admin"):
        other = undo(world, item, who)
        assert other.status_code == 409 and "super_k1's" in other.json()["detail"]
    world.settings.undo_minutes = 0
    late = undo(world, item, "super_k1")
    assert late.status_code == 409 and "0 minutes only" in late.json()["detail"]
    assert state(world) == decided
    assert queue(world, "super_k1") == []
    world.settings.undo_minutes = 10
    assert undo(world, item, "super_k1").status_code == 200
    twice = undo(world, item, "super_k1")
    assert twice.status_code == 409 and "open" in twice.json()["detail"]
