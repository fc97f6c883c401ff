"""Events by month: idempotency across partitions, and event retention (export, drop, counters,
reviews and statistics of the dropped months unchanged) on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError

from api.db.migrate import upgrade
from api.db.models import Event, Place, QueueItem, RetiredMonth, Review
from api.db.partitions import partitions
from api.event_retention import RetentionError, retire_events
from api.security import appeal_code
from api.stats.queries import strata
from api.storage import objects_for
from tests.api.test_review import add_user, recount, state
from tests.api.world import World, event

TODAY = date(2026, 12, 2)
MONTHS = [date(2026, m, 1) for m in range(6, 12)]  # June … November
RETIRED = MONTHS[:4]  # keeping 3 months on 2026-12-02 keeps October, November, December


def statuses(response: Any) -> list[str]:
    return [r["status"] for r in response.json()["results"]]


def test_an_event_id_is_stored_once_whatever_its_month(world: World) -> None:
    first = event("B1", "kitchen", at=datetime(2026, 11, 10, 2, tzinfo=UTC))
    assert statuses(world.send("cam-ST1", [first])) == ["stored"]
    moved = first.model_copy(update={"captured_at": datetime(2026, 7, 3, 2, tzinfo=UTC)})
    again = event("B1", "kitchen", at=datetime(2026, 7, 3, 3, tzinfo=UTC))
    assert statuses(world.send("cam-ST1", [moved, again])) == ["duplicate", "stored"]
    assert statuses(world.send("cam-ST1", [first])) == ["duplicate"]
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        stored = session.scalars(select(Event.day).where(Event.event_id == first.event_id)).all()
    assert stored == [date(2026, 11, 10)]


def _months_of_dropoffs(world: World) -> None:
    """Half a year of drop-offs at K1 and K2 with households, flags, reviews (confirmed and
    overturned) and an appeal decided, so every statistic has something to show."""
    rng = random.Random(7)
    for month in MONTHS:
        events = []
        for k in range(24):
            at = datetime(month.year, month.month, 1 + k % 27, 1 + k % 12, tzinfo=UTC)
            bin_code = rng.choice(["B1", "B2", "B4", "B5"])
            wrong = rng.random() < 0.4
            items = ("kitchen", "other") if wrong else ("kitchen",)
            if bin_code == "B2":
                items = ("recyclable", "hazardous") if wrong else ("recyclable",)
            household = rng.choice(["H1", "H2", "H3", "H6", None])
            verdict = "contaminated" if wrong else rng.choice(["correct", "correct", "uncertain"])
            events.append(event(bin_code, *items, verdict=verdict, household=household, at=at))
        for station in ("ST1", "ST2"):
            batch = [e for e in events if e.station_id == station]
            assert set(statuses(world.send(f"cam-{station}", batch))) <= {"stored"}
    queue = world.get("/api/v1/review/queue", "super_k1", limit=500).json()
    assert len(queue) > 40
    for n, item in enumerate(queue):
        # a third of the flags overturned (the items were all right for the bin after all)
        decision: dict[str, Any] = {"decision": "confirm"}
        if item["event"]["verdict"] == "uncertain" or n % 3 == 0:
            decision = {"decision": "overturn", "true_categories": [item["event"]["bin_category"]]}
        made = world.post(f"/api/v1/review/items/{item['id']}/decision", "super_k1", json=decision)
        assert made.status_code == 201, made.text


def _statistics(world: World, month: date) -> dict[str, Any]:
    last = (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    period = {"start": month.isoformat(), "end": last.isoformat()}
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        place = session.scalar(select(Place).where(Place.code == "S1"))
        assert place is not None
        cells = strata(session, place, month, last)
    return {
        "strata": cells,
        "summary": {
            place: world.get("/api/v1/stats/summary", "admin", place=place, **period).json()
            for place in ("K1", "K2", "S1")
        },
        "households": world.get("/api/v1/stats/households", "admin", place="K1", **period).json(),
        "rankings": world.get("/api/v1/stats/rankings", "admin", place="S1", **period).json(),
        "monthly": world.get(
            "/api/v1/reports/monthly", "admin", place="S1", month=f"{month:%Y-%m}"
        ).text,
    }


def test_retired_months_are_exported_dropped_and_still_counted(world: World) -> None:
    _months_of_dropoffs(world)
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    # an appeal still open in a month past retention holds the retention back
    with sessions() as session:
        appealed = session.scalars(
            select(Event.event_id).where(Event.day < RETIRED[1], Event.verdict == "contaminated")
        ).first()
    assert appealed is not None
    made = world.post("/api/v1/public/appeals", None, json={"code": appeal_code(appealed)})
    assert made.status_code == 201, made.text
    keep = world.settings.model_copy(update={"event_retention_months": 3})
    with sessions() as session, pytest.raises(RetentionError, match="open appeal"):
        retire_events(session, keep, TODAY)
    _decide_appeal(world, made.json()["id"])

    before = {month: _statistics(world, month) for month in MONTHS}
    assert all(before[m]["strata"] for m in RETIRED)  # reviewed flags to correct with
    counters = state(world)
    with sessions() as session:
        ids = {
            month: set(
                session.scalars(
                    select(Event.event_id).where(
                        Event.day >= month, Event.day < (month + timedelta(days=31)).replace(day=1)
                    )
                )
            )
            for month in RETIRED
        }
        reviews = session.scalar(select(func.count(Review.id)))
        items = session.scalar(select(func.count(QueueItem.id)))
        done = retire_events(session, keep, TODAY)
    assert [d.month for d in done] == [f"{m:%Y-%m}" for m in RETIRED]

    with sessions() as session:
        # dropped: no event left on those days, and on PostgreSQL no partition either
        assert session.scalar(select(func.count()).where(Event.day < date(2026, 10, 1))) == 0
        if session.get_bind().dialect.name == "postgresql":
            assert not [m for m in partitions(session) if m < date(2026, 10, 1)]
            assert date(2026, 10, 1) in partitions(session)
        assert sorted(session.scalars(select(RetiredMonth.month))) == [d.month for d in done]
        # reviews and queue items kept, none pointing at a dropped event
        assert session.scalar(select(func.count(Review.id))) == reviews
        assert session.scalar(select(func.count(QueueItem.id))) == items
        for table in ("reviews", "queue_items"):
            dangling = session.scalar(
                text(
                    f"SELECT COUNT(*) FROM {table} t WHERE t.event_id IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM events e WHERE e.id = t.event_id AND e.day = t.event_day)"
                )
            )
            assert dangling == 0, table
        unlinked_open = select(func.count()).where(
            QueueItem.status == "open", QueueItem.event_id.is_(None), QueueItem.reason != "report"
        )
        assert session.scalar(unlinked_open) == 0
    # each month's export holds exactly its events
    store = objects_for(world.settings)
    for month, retired in zip(RETIRED, done, strict=True):
        data = store.get(retired.export_key)
        assert data is not None
        rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
        assert {r["event_id"] for r in rows} == {str(i) for i in ids[month]}
        assert retired.events == len(rows) > 0
    # every statistic of every month, dropped or kept, as it was; the counters too, and a
    # rebuild from the events left recounts the kept months to the same numbers
    assert {month: _statistics(world, month) for month in MONTHS} == before
    assert state(world) | {"events": None} == counters | {"events": None}
    assert {k: v for k, v in state(world).items() if k != "events"} == recount(world)
    # a late drop-off from a retired month is refused, one from a kept month stored
    late = event("B1", "kitchen", at=datetime(2026, 8, 5, 2, tzinfo=UTC))
    kept = event("B1", "kitchen", at=datetime(2026, 10, 5, 2, tzinfo=UTC))
    response = world.send("cam-ST1", [late, kept])
    assert statuses(response) == ["rejected", "stored"]
    assert "retired" in response.json()["results"][0]["error"]
    # nothing left to retire
    with sessions() as session:
        assert retire_events(session, keep, TODAY) == []


def _decide_appeal(world: World, item: int) -> None:
    """An appeal is decided by a supervisor other than the one who reviewed the drop-off."""
    add_user(world, "super_k1b", scope=("K1",))
    add_user(world, "super_k2", scope=("K2",))
    for who in ("super_k1b", "super_k1", "super_k2"):
        made = world.post(
            f"/api/v1/review/items/{item}/decision", who, json={"decision": "confirm"}
        )
        if made.status_code == 201:
            return
    raise AssertionError(made.text)


def test_an_existing_events_table_is_converted(database_url: str) -> None:
    """Migration 0013 on a PostgreSQL database with events, queue items and reviews made
    under 0012: the same rows with the same ids, each in its month's partition, references
    kept (and enforced), the id sequence going on."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite keeps one events table")
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade(engine, "0012")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    days = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 3, 15), date(2026, 3, 16)]
    with engine.begin() as c:
        place = c.execute(
            text(
                "INSERT INTO places (kind, code, name, path, profile) "
                "VALUES ('compound', 'K', 'K', '/1/', 'national') RETURNING id"
            )
        ).scalar_one()
        device = c.execute(
            text(
                "INSERT INTO devices (code, station_id, token_hash, created_at, revoked) "
                "VALUES ('d', :p, 'h', :t, false) RETURNING id"
            ),
            {"p": place, "t": now},
        ).scalar_one()
        bin_ = c.execute(
            text(
                "INSERT INTO bins (code, station_id, category) "
                "VALUES ('b', :p, 'kitchen') RETURNING id"
            ),
            {"p": place},
        ).scalar_one()
        user = c.execute(
            text(
                "INSERT INTO users (username, password_hash, role, created_at, active) "
                "VALUES ('u', 'x', 'supervisor', :t, true) RETURNING id"
            ),
            {"t": now},
        ).scalar_one()
        ids = {}
        for day in days:
            event_id = uuid.uuid4()
            ids[event_id] = c.execute(
                text(
                    "INSERT INTO events (event_id, appeal_key, device_id, bin_id, station_id, "
                    "compound_id, bin_category, category, captured_at, day, hour, received_at, "
                    "model_version, verdict, final_verdict, offending, items, evidence_stored, "
                    "audit, reviewed, flag_sample) VALUES (:e, :k, :d, :b, :p, :p, 'kitchen', "
                    "'kitchen', :t, :day, 3, :t, 'm', 'contaminated', 'contaminated', '[]', "
                    "'[]', false, false, true, false) RETURNING id"
                ),
                {
                    "e": event_id,
                    "k": event_id.hex[:12],
                    "d": device,
                    "b": bin_,
                    "p": place,
                    "t": now,
                    "day": day,
                },
            ).scalar_one()
            item = c.execute(
                text(
                    "INSERT INTO queue_items (reason, event_id, place_path, created_at, status) "
                    "VALUES ('flagged', :e, '/1/', :t, 'decided') RETURNING id"
                ),
                {"e": ids[event_id], "t": now},
            ).scalar_one()
            c.execute(
                text(
                    "INSERT INTO reviews (item_id, event_id, reviewer_id, decision, "
                    "true_categories, verdict, created_at, withdrawn) VALUES (:i, :e, :u, "
                    "'confirm', '[]', 'contaminated', :t, false)"
                ),
                {"i": item, "e": ids[event_id], "u": user, "t": now},
            )
    upgrade(engine)
    with engine.begin() as c:
        rows = c.execute(
            text("SELECT event_id, id, day, tableoid::regclass::text FROM events")
        ).all()
        assert {r.event_id: r.id for r in rows} == ids
        assert {(r.day, r.tableoid) for r in rows} == {(d, f"events_{d:%Y_%m}") for d in days}
        for table in ("queue_items", "reviews"):
            linked = c.execute(
                text(
                    f"SELECT COUNT(*) FROM {table} t JOIN events e "
                    "ON e.id = t.event_id AND e.day = t.event_day"
                )
            ).scalar_one()
            assert linked == len(days), table
        # enforced: a queue item naming an event with another day is refused
        with pytest.raises(IntegrityError), c.begin_nested():
            c.execute(
                text(
                    "INSERT INTO queue_items (reason, event_id, event_day, place_path, "
                    "created_at, status) VALUES ('audit', :e, '2026-02-01', '/1/', :t, 'open')"
                ),
                {"e": min(ids.values()), "t": now},
            )
        assert c.execute(text("SELECT nextval('events_id_seq')")).scalar_one() > max(ids.values())
    engine.dispose()


def test_binwatch_db_retire_events(world: World) -> None:
    """The command a timer runs: nothing without the setting, a dry run that changes nothing,
    then the months before the window retired (by today's date)."""
    for month in MONTHS[:2]:
        at = datetime(month.year, month.month, 3, 2, tzinfo=UTC)
        assert statuses(world.send("cam-ST1", [event("B1", "kitchen", at=at)])) == ["stored"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {"BINWATCH_DATA_DIR": str(world.settings.data_dir),
            "BINWATCH_DATABASE_URL": world.settings.url}  # fmt: skip

    def retire(*args: str, months: str | None = "3") -> str:
        run = subprocess.run(
            [sys.executable, "-m", "binwatch", "db", "retire-events", *args],
            env=env | ({"BINWATCH_EVENT_RETENTION_MONTHS": months} if months else {}),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert "every event is kept" in retire(months=None)
    due = [f"{m:%Y-%m}" for m in MONTHS[:2]]
    assert [line.split()[2].rstrip(":") for line in retire("--dry-run").splitlines()] == due
    sessions = world.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        assert session.scalar(select(func.count(Event.id))) == 2
    done = retire()
    assert [line.split()[1].rstrip(":") for line in done.splitlines()] == due, done
    with sessions() as session:
        assert session.scalar(select(func.count(Event.id))) == 0
    assert "no month" in retire()
