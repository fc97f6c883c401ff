"""Bulk-load a year of synthetic drop-offs for the statistics benchmark, then build the rollups
from them with `api.rollups.rebuild` (what ingest keeps incrementally).

1,000 compounds (BK0000..BK0999) under 10 streets and 100 communities, one station with four
bins each, 300 registered households per compound; events spread evenly over 2025 with 70 %
identified, 85 % correct, 10 % contaminated, 5 % uncertain. SQLite takes the rows through
`executemany` in large transactions, PostgreSQL through COPY.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from api.db.engine import make_sessionmaker
from api.db.partitions import ensure_partitions
from api.rollups import rebuild

log = logging.getLogger(__name__)
COMPOUNDS = 1000
HOUSEHOLDS = 300
CATEGORIES = ("kitchen", "recyclable", "hazardous", "other")
COLUMNS = (
    "event_id",
    "appeal_key",
    "device_id",
    "bin_id",
    "station_id",
    "compound_id",
    "bin_category",
    "category",
    "household_id",
    "pseudonym",
    "captured_at",
    "day",
    "hour",
    "received_at",
    "model_version",
    "verdict",
    "final_verdict",
    "offending",
    "score",
    "weight_kg",
    "items",
    "evidence",
    "evidence_stored",
    "audit",
    "reviewed",
)
ITEMS = {
    c: json.dumps([{"label": "plastic", "category": c, "confidence": 0.9}]) for c in CATEGORIES
}


def _scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def _tree(engine: Engine) -> dict[str, Any]:
    """Places, bins, devices and households; returns the ids the events need."""
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO places (kind, code, name, parent_id, path, profile) VALUES "
                "('district', 'BD', 'bench', NULL, '', 'national')"
            )
        )
        district = c.execute(text("SELECT id FROM places WHERE code = 'BD'")).scalar_one()
        c.execute(
            text("UPDATE places SET path = :p WHERE id = :i"), {"p": f"/{district}/", "i": district}
        )
        compounds, stations, bins = [], [], []
        parent_path = {district: f"/{district}/"}

        def add(kind: str, code: str, parent: int) -> int:
            c.execute(
                text(
                    "INSERT INTO places (kind, code, name, parent_id, path, profile) "
                    "VALUES (:k, :c, :c, :p, '', 'national')"
                ),
                {"k": kind, "c": code, "p": parent},
            )
            pid = int(
                c.execute(text("SELECT id FROM places WHERE code = :c"), {"c": code}).scalar_one()
            )
            parent_path[pid] = parent_path[parent] + f"{pid}/"
            c.execute(
                text("UPDATE places SET path = :p WHERE id = :i"), {"p": parent_path[pid], "i": pid}
            )
            return pid

        for s in range(10):
            street = add("street", f"BS{s}", district)
            for m in range(10):
                community = add("community", f"BC{s}{m}", street)
                for k in range(10):
                    number = s * 100 + m * 10 + k
                    compound = add("compound", f"BK{number:04d}", community)
                    station = add("station", f"BST{number:04d}", compound)
                    compounds.append(compound)
                    stations.append(station)
                    for category in CATEGORIES:
                        c.execute(
                            text(
                                "INSERT INTO bins (code, station_id, category) VALUES (:c, :s, :k)"
                            ),
                            {"c": f"BB{number:04d}{category[0]}", "s": station, "k": category},
                        )
        now = datetime.now(UTC)
        c.execute(
            text(
                "INSERT INTO devices (code, station_id, token_hash, created_at, revoked) "
                "VALUES (:c, :s, :t, :n, false)"
            ),
            [
                {"c": f"bcam-{i}", "s": s, "t": secrets.token_hex(32), "n": now}
                for i, s in enumerate(stations)
            ],
        )
        c.execute(
            text("INSERT INTO households (code, compound_id, registered) VALUES (:c, :k, true)"),
            [
                {"c": f"BH{i}-{h}", "k": k}
                for i, k in enumerate(compounds)
                for h in range(HOUSEHOLDS)
            ],
        )
        devices: dict[int, int] = dict(c.execute(text("SELECT station_id, id FROM devices")).all())
        bin_ids = {
            (s, k): i
            for i, s, k in c.execute(text("SELECT id, station_id, category FROM bins")).all()
        }
        households: dict[int, list[int]] = {}
        for hid, compound in c.execute(text("SELECT id, compound_id FROM households")).all():
            households.setdefault(compound, []).append(hid)
        for station in stations:
            bins.append([bin_ids[(station, k)] for k in CATEGORIES])
    return {
        "compounds": compounds,
        "stations": stations,
        "bins": bins,
        "devices": devices,
        "households": households,
    }


def _rows(tree: dict[str, Any], n: int, seed: int, sqlite: bool) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    which = rng.integers(0, COMPOUNDS, n)
    seconds = rng.integers(0, 365 * 86400, n)
    kind = rng.integers(0, 4, n)
    verdict_draw = rng.random(n)
    identified = rng.random(n) < 0.7
    member = rng.integers(0, HOUSEHOLDS, n)
    weights = np.round(rng.uniform(0.1, 4.0, n), 2)
    rng_ids = rng.integers(0, 2**63, n)
    year = datetime(2025, 1, 1, tzinfo=UTC)
    local = timedelta(hours=8)
    rows = []
    now = "2026-01-01 00:00:00.000000" if sqlite else datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        c = int(which[i])
        compound, station = tree["compounds"][c], tree["stations"][c]
        category = CATEGORIES[kind[i]]
        v = verdict_draw[i]
        verdict = "correct" if v < 0.85 else "contaminated" if v < 0.95 else "uncertain"
        at = year + timedelta(seconds=int(seconds[i]))
        shanghai = at + local
        event_id = uuid.UUID(int=(seed + i) << 64 | int(rng_ids[i]))
        household = tree["households"][compound][member[i]] if identified[i] else None
        rows.append(
            (
                event_id.hex if sqlite else event_id,
                event_id.hex[:12],
                tree["devices"][station],
                tree["bins"][c][kind[i]],
                station,
                compound,
                category,
                category,
                household,
                None,
                at.strftime("%Y-%m-%d %H:%M:%S.000000") if sqlite else at,
                shanghai.date().isoformat(),
                shanghai.hour,
                now,
                "lite0-waste-1.0",
                verdict,
                verdict,
                "[]" if verdict != "contaminated" else '["other"]',
                0.9,
                float(weights[i]) if category == "kitchen" else None,
                ITEMS[category],
                None,
                False,
                False,
                False,
            )
        )
    return rows


def _secondary_indexes(engine: Engine) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the events table's non-unique indexes."""
    if engine.dialect.name == "sqlite":
        sql = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"
        )
    else:
        sql = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        )
    with engine.connect() as connection:
        # a partitioned table's index reads "ON ONLY events": made that way it would cover no
        # partition; made on the table, PostgreSQL builds it on every partition
        rows = connection.execute(text(sql)).all()
        return [(name, ddl.replace(" ON ONLY ", " ON ")) for name, ddl in rows]


def load_events(engine: Engine, n: int, chunk: int = 200_000) -> dict[str, Any]:
    """A bulk load as a migration would do it: secondary indexes dropped during the load and
    built afterwards; event ids time-ordered (the unique index then grows at its end)."""
    started = time.perf_counter()
    tree = _tree(engine)
    sqlite = engine.dialect.name == "sqlite"
    with make_sessionmaker(engine)() as session:  # PostgreSQL: a partition per month loaded
        ensure_partitions(session, date(2026, 1, 1), since=date(2025, 1, 1))
        session.commit()
    indexes = _secondary_indexes(engine)
    with engine.begin() as connection:
        for name, _ in indexes:
            connection.execute(text(f"DROP INDEX {name}"))
    done = 0
    while done < n:
        size = min(chunk, n - done)
        rows = _rows(tree, size, seed=done, sqlite=sqlite)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if sqlite:
                marks = ", ".join("?" for _ in COLUMNS)
                cursor.executemany(
                    f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({marks})", rows
                )
            else:
                with cursor.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        done += size
        log.info("loaded %d / %d events (%.0f s)", done, n, time.perf_counter() - started)
    with engine.begin() as connection:
        for _, ddl in indexes:
            connection.execute(text(ddl))
    log.info("indexes rebuilt (%.0f s)", time.perf_counter() - started)
    with make_sessionmaker(engine)() as session:
        rebuild(session)
        session.commit()
    log.info("rollups rebuilt (%.0f s)", time.perf_counter() - started)
    if not sqlite:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    events = int(_scalar(engine, "SELECT COUNT(*) FROM events"))
    stored: int | None = None
    if not sqlite:  # table and indexes of every partition, for the sizing in the README
        stored = int(
            _scalar(
                engine,
                "SELECT SUM(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                "WHERE inhparent = 'events'::regclass",
            )
        )
    return {
        "events": events,
        "compounds": COMPOUNDS,
        "seconds": time.perf_counter() - started,
        "bytes_per_event": stored / events if stored and events else None,
    }
