"""Review decisions under real concurrency: two clients in two threads hit one item at the same
moment, many times over, on SQLite and PostgreSQL. Exactly one wins, the other gets 409 and
writes nothing, and every counter equals a recount from the events."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from api.security import appeal_code
from tests.api.test_review import add_user, assert_counts_match_events, flagged_event, queue
from tests.api.world import World

ROUNDS = 25


def at_once(world: World, *calls: tuple[str, str, dict[str, Any] | None]) -> list[Any]:
    """POST each (path, who, json) from its own thread and its own client, released together."""
    app = world.client.app
    start = threading.Barrier(len(calls))
    responses: list[Any] = [None] * len(calls)
    failures: list[BaseException] = []

    def send(index: int, path: str, who: str, body: dict[str, Any] | None) -> None:
        try:
            client = TestClient(app)  # no shared portal: each request runs on its own loop
            start.wait(timeout=30)
            responses[index] = client.post(path, headers=world.auth(who), json=body)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [
        threading.Thread(target=send, args=(i, *call), daemon=True) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert all(r is not None for r in responses), "a request did not finish"
    return responses


def flagged_items(world: World, count: int) -> list[int]:
    made = [flagged_event(f"H{1 + n % 3}", weight=0.5) for n in range(count)]
    assert world.send("cam-ST1", made).status_code == 200
    ids = {str(e.event_id) for e in made}
    items = [i["id"] for i in queue(world, "admin", limit="500") if i["event"]["event_id"] in ids]
    assert len(items) == count
    return items


def decision(verdict: str) -> dict[str, Any]:
    return {"decision": "overturn" if verdict == "correct" else "confirm"}


def reviews_of(world: World, item: int) -> list[dict[str, Any]]:
    response = world.get(f"/api/v1/review/items/{item}/reviews", "admin")
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()
    return found


def test_two_decisions_at_once_count_once(world: World) -> None:
    add_user(world, "super_k1b", scope=("K1",))
    items = flagged_items(world, ROUNDS)
    pairs: list[tuple[str, str]] = [("super_k1", "super_k1b"), ("super_k1", "super_k1")]
    for n, item in enumerate(items):
        first, second = pairs[n % 2]  # two supervisors, or one supervisor's double click
        path = f"/api/v1/review/items/{item}/decision"
        a, b = at_once(
            world,
            (path, first, decision("correct")),
            (path, second, decision("contaminated")),
        )
        assert sorted([a.status_code, b.status_code]) == [201, 409], (a.text, b.text)
        winner, loser = (a, b) if a.status_code == 201 else (b, a)
        assert "decided already" in loser.json()["detail"]
        history = reviews_of(world, item)
        assert [r["id"] for r in history] == [winner.json()["id"]]  # nothing of the loser's
    counted = assert_counts_match_events(world)
    verdicts = sorted(v for v, _ in counted["events"].values())
    assert len(verdicts) == ROUNDS and set(verdicts) <= {"correct", "contaminated"}
    assert queue(world, "admin") == []


def test_two_claims_at_once_one_holds_the_item(world: World) -> None:
    add_user(world, "super_k1b", scope=("K1",))
    for item in flagged_items(world, ROUNDS // 2):
        path = f"/api/v1/review/items/{item}/claim"
        a, b = at_once(world, (path, "super_k1", None), (path, "super_k1b", None))
        assert sorted([a.status_code, b.status_code]) == [200, 409], (a.text, b.text)
        winner, loser = (a, b) if a.status_code == 200 else (b, a)
        assert "another supervisor" in loser.json()["detail"]
        holder = winner.json()["claimed_by"]
        other = ({"super_k1", "super_k1b"} - {holder}).pop()
        assert item in [i["id"] for i in queue(world, holder)]
        assert item not in [i["id"] for i in queue(world, other)]


def test_two_second_reviews_of_an_appeal_at_once(world: World) -> None:
    """The appeal's second review supersedes the first decision once: one wins, one gets 409."""
    add_user(world, "super_k1b", scope=("K1",))
    made = [flagged_event(f"H{1 + n % 3}") for n in range(ROUNDS // 3)]
    assert world.send("cam-ST1", made).status_code == 200
    for dropoff in made:
        item = next(
            i["id"]
            for i in queue(world, "super_k1")
            if i["event"]["event_id"] == str(dropoff.event_id)
        )
        first = world.post(
            f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "confirm"}
        )
        assert first.status_code == 201
        code = appeal_code(dropoff.event_id)
        appeal = world.client.post("/api/v1/public/appeals", json={"code": code}).json()["id"]
        path = f"/api/v1/review/items/{appeal}/decision"
        a, b = at_once(
            world,
            (path, "super_k1b", decision("correct")),
            (path, "admin", decision("contaminated")),
        )
        assert sorted([a.status_code, b.status_code]) == [201, 409], (a.text, b.text)
        winner = a if a.status_code == 201 else b
        assert [r["superseded_by"] for r in reviews_of(world, item)] == [winner.json()["id"]]
        assert [r["id"] for r in reviews_of(world, appeal)] == [winner.json()["id"]]
    assert_counts_match_events(world)


def test_supersede_and_appeal_review_at_once_leave_one_standing(world: World) -> None:
    """Two items of one event (the original, superseded by an admin, and its appeal, decided by
    a second supervisor) at once: each either runs after the other or loses with 409; one
    decision stands and the counters follow it."""
    add_user(world, "super_k1b", scope=("K1",))
    made = [flagged_event(f"H{1 + n % 3}") for n in range(ROUNDS // 3)]
    assert world.send("cam-ST1", made).status_code == 200
    for dropoff in made:
        item = next(
            i["id"]
            for i in queue(world, "super_k1")
            if i["event"]["event_id"] == str(dropoff.event_id)
        )
        assert (
            world.post(
                f"/api/v1/review/items/{item}/decision", "super_k1", json={"decision": "confirm"}
            ).status_code
            == 201
        )
        code = appeal_code(dropoff.event_id)
        appeal = world.client.post("/api/v1/public/appeals", json={"code": code}).json()["id"]
        a, b = at_once(
            world,
            (f"/api/v1/review/items/{item}/supersede", "admin", decision("correct")),
            (f"/api/v1/review/items/{appeal}/decision", "super_k1b", decision("correct")),
        )
        codes = sorted([a.status_code, b.status_code])
        assert codes in ([201, 201], [201, 409]), (a.text, b.text)
        history = reviews_of(world, item) + reviews_of(world, appeal)
        standing = [r for r in history if r["superseded_by"] is None and not r["withdrawn"]]
        assert len(standing) == 1 and len(history) == 1 + codes.count(201)
        state = assert_counts_match_events(world)
        assert state["events"][str(dropoff.event_id)] == (standing[0]["verdict"], True)
