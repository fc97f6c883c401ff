"""Ingest and statistics speed of the service, on SQLite and PostgreSQL, in one run.

    .venv/bin/python -m bench.ingest --postgres postgresql://postgres@127.0.0.1:54329/postgres \
        --events 10000000 --out bench/results/ingest.json

1. Ingest: the real service (`binwatch serve`, uvicorn, one worker) on a fresh database; one
   device sends prepared batches of 1, 50 and 500 events over HTTP, one after another, as a
   station would. Events per second, next to a bare `executemany` insert of the same rows into
   the same table in batches of the same size (the ratio is the figure: what idempotency,
   station checks, rollups and the queue cost over writing the rows).
2. Statistics: `--events` events (10 million by default) bulk-loaded over a year, 1,000
   compounds and 300,000 households, with rollups built from them; then the p50/p95 time of
   `GET /api/v1/stats/summary` for one compound and one month, over HTTP, on random compounds
   and months, three times (`--repeat`), a fresh server each: the median and the range.

`--keep` keeps the PostgreSQL database and prints its URL; `--stats-on URL` then times the
statistics again on it without loading (10 M events take about 16 minutes to load here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, insert, text

from api.db.engine import make_engine, make_sessionmaker
from api.db.migrate import upgrade
from api.db.models import Event
from api.devices import register_device
from api.ingest import _row, _Station
from api.places import import_csv
from api.schemas import UserCreate
from api.settings import Settings
from api.users import create_user
from bench.statsload import load_events
from bench.timing import latency
from vision.events import DropoffEvent, EventBatch

PASSWORD = "benchmark password"
SIZES = (1, 50, 500)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_postgres(url: str) -> tuple[str, Engine]:
    name = f"binwatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return url.rsplit("/", 1)[0] + "/" + name, admin


def drop_database(admin: Engine, url: str) -> None:
    """Drop the database `fresh_postgres` made (connections to it are closed), and let go."""
    with admin.connect() as connection:
        name = url.rsplit("/", 1)[1]
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def prepare(settings: Settings) -> str:
    """A station with four bins, a household and a device; returns the device token."""
    engine = make_engine(settings)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        result = import_csv(
            session,
            "kind,code,name,parent,category\n"
            "district,D1,d,,\nstreet,S1,s,D1,\ncommunity,C1,c,S1,\n"
            "compound,K1,k,C1,\nstation,ST1,st,K1,\n"
            "bin,B1,b,ST1,kitchen\nbin,B2,b,ST1,recyclable\n",
        )
        assert not result.errors, result.errors
        create_user(session, UserCreate(username="admin", password=PASSWORD, role="admin"))
        _, token = register_device(session, "cam-1", "ST1")
        session.commit()
    engine.dispose()
    return token


def make_events(n: int, start: datetime) -> list[DropoffEvent]:
    out = []
    for i in range(n):
        wrong = i % 7 == 0
        items = [{"label": "food_waste", "category": "kitchen", "confidence": 0.93}]
        if wrong:
            items.append({"label": "battery", "category": "hazardous", "confidence": 0.88})
        out.append(
            DropoffEvent.model_validate(
                {
                    "event_id": str(uuid.uuid4()),
                    "device_id": "cam-1",
                    "station_id": "ST1",
                    "bin_id": "B1",
                    "bin_category": "kitchen",
                    "profile": "national",
                    "household": f"{i % 500:032x}",
                    "captured_at": (start + timedelta(seconds=i)).isoformat(),
                    "model_version": "lite0-waste-1.0",
                    "items": items,
                    "verdict": "contaminated" if wrong else "correct",
                    "offending": ["hazardous"] if wrong else [],
                    "score": 0.9,
                }
            )
        )
    return out


def serve(settings: Settings, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {"BINWATCH_DATA_DIR": str(settings.data_dir), "BINWATCH_DATABASE_URL": settings.url}
    server = subprocess.Popen(
        [sys.executable, "-m", "binwatch", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return healthy(server, port)


def healthy(server: subprocess.Popen[str], port: int) -> subprocess.Popen[str]:
    """`server` once its /health answers 200 (it is killed if that takes over a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the service did not start: {server.stderr.read() if server.stderr else ''}")


def ingest_rates(settings: Settings, token: str, total: dict[int, int]) -> dict[int, float]:
    port = free_port()
    server = serve(settings, port)
    rates = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as client:
            for size in SIZES:
                # captured in the last hours: this month's partition on PostgreSQL
                start = datetime.now(UTC) - timedelta(seconds=total[size] + 600)
                events = make_events(total[size], start)
                bodies = [
                    EventBatch(
                        device_id="cam-1",
                        sent_at=datetime.now(UTC),
                        events=tuple(events[i : i + size]),
                    ).model_dump_json()
                    for i in range(0, len(events), size)
                ]
                client.post("/api/v1/ingest/events", content=bodies[0])  # warm-up (stored)
                started = time.perf_counter()
                for body in bodies[1:]:
                    response = client.post("/api/v1/ingest/events", content=body)
                    assert response.status_code == 200, response.text
                elapsed = time.perf_counter() - started
                rates[size] = (len(events) - size) / elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rates


def bare_rates(settings: Settings, total: dict[int, int]) -> dict[int, float]:
    """The same rows, written by `executemany` in batches of the same size, nothing else."""
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    rates = {}
    with sessions() as session:
        from api.db.models import Device

        device = session.query(Device).one()
        station = _Station(session, device)
        now = datetime.now(UTC)
        for size in SIZES:
            events = make_events(total[size], now - timedelta(seconds=total[size] + 600))
            rows = [_row(e, device, station, {}, settings, now) for e in events]
            started = time.perf_counter()
            for i in range(0, len(rows), size):
                with engine.begin() as connection:
                    connection.execute(insert(Event), rows[i : i + size])
            rates[size] = len(rows) / (time.perf_counter() - started)
    engine.dispose()
    return rates


def stats_latency(
    settings: Settings, events: int, queries: int, repeat: int = 1, load: bool = True
) -> dict[str, Any]:
    """Load `events` (unless `load` is False: the database holds an earlier run's), then time
    the summary `repeat` times, a fresh server each: each figure is the median of the runs, each
    p95 with its range."""
    engine = make_engine(settings)
    loaded = load_events(engine, events) if load else loaded_before(engine)
    engine.dispose()
    runs = [_summary_times(settings, loaded["compounds"], queries) for _ in range(repeat)]
    return {
        "events_loaded": loaded["events"],
        "bytes_per_event": loaded["bytes_per_event"],
        "load_seconds": loaded["seconds"],
        "queries": queries,
        "runs": runs,
        **{key: statistics.median(r[key] for r in runs) for key in ("p50_ms", "p95_ms", "max_ms")},
        "p95_range": [min(r["p95_ms"] for r in runs), max(r["p95_ms"] for r in runs)],
    }


def loaded_before(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        events = int(connection.execute(text("SELECT COUNT(*) FROM events")).scalar_one())
        compounds = connection.execute(
            text("SELECT COUNT(*) FROM places WHERE kind = 'compound' AND code LIKE 'BK%'")
        ).scalar_one()
    if not events or not compounds:
        raise SystemExit("--stats-on: that database holds no earlier run's events")
    return {"events": events, "compounds": int(compounds), "seconds": None, "bytes_per_event": None}


def _summary_times(settings: Settings, compounds: int, queries: int) -> dict[str, float]:
    port = free_port()
    server = serve(settings, port)
    times, seen = [], 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            token = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            for i in range(queries + 10):
                compound = f"BK{(i * 7919) % compounds:04d}"
                month = 1 + (i * 5) % 12
                start = date(2025, month, 1)
                end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
                began = time.perf_counter()
                response = client.get(
                    "/api/v1/stats/summary",
                    params={"place": compound, "start": str(start), "end": str(end)},
                )
                took = time.perf_counter() - began
                assert response.status_code == 200, response.text
                seen += response.json()["totals"]["dropoffs"]
                if i >= 10:
                    times.append(took * 1000)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert seen > 0, "the statistics found none of the loaded events"
    return latency(times)


def run_one(name: str, url: str | None, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    total = {1: args.single, 50: args.batched, 500: args.batched}
    settings = Settings(data_dir=work / name, database_url=url)
    token = prepare(settings)
    api = ingest_rates(settings, token, total)
    bare = bare_rates(settings, total)
    result: dict[str, Any] = {
        "ingest": {
            str(s): {
                "api_events_per_s": api[s],
                "bare_executemany_events_per_s": bare[s],
                "ratio": api[s] / bare[s],
            }
            for s in SIZES
        }
    }
    if args.events:
        result["stats"] = stats_latency(settings, args.events, args.queries, args.repeat)
    return result


def run_all(results: dict[str, Any], tmp: Path, args: argparse.Namespace) -> None:
    if args.skip_sqlite and args.out.exists():
        earlier = json.loads(args.out.read_text())
        results["sqlite"] = {**earlier.get("sqlite", {}), "measured": earlier.get("date")}
    else:
        results["sqlite"] = run_one("sqlite", None, tmp, args)
    if args.postgres:
        url, admin = fresh_postgres(args.postgres)
        try:
            results["postgresql"] = run_one("postgresql", url, tmp, args)
        finally:
            if args.keep:
                print(f"kept the database: --stats-on {url}")
            else:
                drop_database(admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a server URL; a fresh database is made on it")
    parser.add_argument("--events", type=int, default=10_000_000, help="events for the stats part")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="statistics runs on one load")
    parser.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database (its URL is printed)"
    )
    parser.add_argument(
        "--stats-on",
        metavar="URL",
        help="only the statistics, on a database an earlier --keep run loaded",
    )
    parser.add_argument("--single", type=int, default=1000, help="events sent one per batch")
    parser.add_argument("--batched", type=int, default=20_000, help="events sent in batches")
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest.json"))
    parser.add_argument(
        "--skip-sqlite",
        action="store_true",
        help="PostgreSQL only (the earlier SQLite figures stay)",
    )
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    results: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "date": str(date.today()),
    }
    with tempfile.TemporaryDirectory(prefix="binwatch-bench-") as tmp:
        if args.stats_on:
            settings = Settings(data_dir=Path(tmp), database_url=args.stats_on)
            name = "postgresql" if args.stats_on.startswith("postgresql") else "sqlite"
            stats = stats_latency(settings, 0, args.queries, args.repeat, load=False)
            results[name] = {"stats": stats}
        else:
            run_all(results, Path(tmp), args)
    print(f"{'database':<11} {'batch':>5} {'API ev/s':>10} {'executemany ev/s':>17} {'ratio':>6}")
    for db in ("sqlite", "postgresql"):
        for size, row in results.get(db, {}).get("ingest", {}).items():
            print(
                f"{db:<11} {size:>5} {row['api_events_per_s']:>10,.0f} "
                f"{row['bare_executemany_events_per_s']:>17,.0f} {row['ratio']:>6.2f}"
            )
    for db in ("sqlite", "postgresql"):
        stats = results.get(db, {}).get("stats")
        if stats:
            low, high = stats.get("p95_range", [stats["p95_ms"]] * 2)
            print(
                f"{db}: compound-month summary over {stats['events_loaded']:,} events, median "
                f"of {len(stats.get('runs', [0]))} runs: p50 {stats['p50_ms']:.1f} ms, p95 "
                f"{stats['p95_ms']:.1f} ms ({low:.1f}–{high:.1f})"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
