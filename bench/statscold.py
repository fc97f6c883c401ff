"""The compound-month summary read from a cold disk: what the statistics cost when a month's
events are not in memory (a city's partitions never all are).

    sudo .venv/bin/python -m bench.statscold --database URL --pgdata DIR [--index narrow|wide]

On a database an earlier `python -m bench.ingest --keep` loaded: optionally rebuild
`ix_events_compound_day` as it was before migration 0014 (`narrow`: compound and day) or as it
is now (`wide`: with every column the statistics' strata group by, so they are read from the
index alone); restart PostgreSQL (`pg_ctl restart`, as the `postgres` user) and empty the
operating system's page cache (root); then time `api.stats.queries.summary` in process on
100 compound-months none of which has been read since (cold), and the same again (warm).
Run it twice per index, alternating: the host's noise is larger than one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from api.db.engine import make_engine, make_sessionmaker
from api.db.models import STRATA_COLUMNS, Place
from api.settings import Settings
from api.stats import queries
from bench.timing import latency

NARROW = "compound_id, day"
WIDE = ", ".join((NARROW, *STRATA_COLUMNS))


def rebuild_index(url: str, columns: str) -> None:
    engine = make_engine(Settings(database_url=url))
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_events_compound_day"))
        connection.execute(text(f"CREATE INDEX ix_events_compound_day ON events ({columns})"))
        connection.execute(text("ANALYZE events"))
    engine.dispose()


def go_cold(pgdata: Path) -> None:
    pg_ctl = next(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), None) or Path("pg_ctl")
    subprocess.run(
        ["su", "postgres", "-s", "/bin/sh", "-c", f"'{pg_ctl}' -D '{pgdata}' -w restart -m fast"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(url: str, first: int, count: int) -> dict[str, Any]:
    engine = make_engine(Settings(database_url=url))
    out: dict[str, Any] = {}
    zone = ZoneInfo("Asia/Shanghai")
    with make_sessionmaker(engine)() as session:
        compounds = list(
            session.scalars(select(Place).where(Place.kind == "compound").order_by(Place.code))
        )[first : first + count]
        for name in ("cold", "warm"):
            times = []
            for i, place in enumerate(compounds):
                month = 1 + (i * 5) % 12
                start, end = date(2025, month, 1), date(2025, month, 28)
                began = time.perf_counter()
                queries.summary(session, place, start, end, "day", zone)
                times.append(1000 * (time.perf_counter() - began))
            out[name] = latency(times)
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of a loaded database")
    parser.add_argument("--pgdata", type=Path, required=True, help="its server's data directory")
    parser.add_argument("--index", choices=("narrow", "wide"), help="rebuild the index first")
    parser.add_argument("--first", type=int, default=500, help="first compound (by code)")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.index:
        rebuild_index(args.database, NARROW if args.index == "narrow" else WIDE)
    go_cold(args.pgdata)
    result = {"index": args.index, **timed(args.database, args.first, args.count)}
    print(
        f"index {args.index or 'as it is'}: cold p50 {result['cold']['p50_ms']:.1f} ms, p95 "
        f"{result['cold']['p95_ms']:.1f} ms; warm p50 {result['warm']['p50_ms']:.1f} ms, "
        f"p95 {result['warm']['p95_ms']:.1f} ms"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
