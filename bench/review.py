"""How fast the review page answers with 100,000 items waiting, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.review --items 100000 [--postgres URL] --out bench/results/review.json

A supervisor's compound gets `--items` flagged events, each in the queue with evidence. Over
HTTP against `binwatch serve`, timed: what the page asks when it opens (the queue's first 50,
the count, the first image) and what one key press costs (a decision, then the count).
Three runs per database (`--repeat`), a fresh server each: each figure is the median of the
runs, each p95 with its range. Target: p95 ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from sqlalchemy import insert, select

from api.db.engine import make_engine, make_sessionmaker
from api.db.migrate import upgrade
from api.db.models import Event, Place, QueueItem
from api.devices import register_device
from api.places import import_csv
from api.schemas import UserCreate
from api.settings import Settings
from api.storage import evidence_for
from api.users import create_user
from bench.ingest import drop_database, free_port, fresh_postgres, serve
from bench.timing import latency

PASSWORD = "benchmark password"
WITH_EVIDENCE = 1000  # the newest items have an image: every timed round decides one of them


def seed(settings: Settings, items: int) -> None:
    engine = make_engine(settings)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        assert not import_csv(
            session,
            "kind,code,name,parent,category\n"
            "district,D1,d,,\nstreet,S1,s,D1,\ncommunity,C1,c,S1,\n"
            "compound,K1,k,C1,\nstation,ST1,st,K1,\n"
            "bin,B1,b,ST1,kitchen\n",
        ).errors
        create_user(
            session, UserCreate(username="sup", password=PASSWORD, role="supervisor", scope=["K1"])
        )
        device, _ = register_device(session, "cam-1", "ST1")
        session.commit()
        station = session.scalar(select(Place).where(Place.code == "ST1"))
        assert station is not None and station.parent_id is not None
        bin_id = 1
        photo = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
        store = evidence_for(settings)
        now = datetime.now(UTC)
        for start in range(0, items, 10_000):
            rows = []
            for n in range(start, min(items, start + 10_000)):
                event_id = uuid.uuid4()
                at = now - timedelta(seconds=30 * n)
                rows.append(
                    {
                        "event_id": event_id,
                        "appeal_key": event_id.hex[:12],
                        "device_id": device.id,
                        "bin_id": bin_id,
                        "station_id": station.id,
                        "compound_id": station.parent_id,
                        "bin_category": "kitchen",
                        "category": "kitchen",
                        "household_id": None,
                        "pseudonym": None,
                        "captured_at": at,
                        "day": at.date(),
                        "hour": at.hour,
                        "received_at": now,
                        "model_version": "lite0-waste-1.0",
                        "verdict": "contaminated",
                        "final_verdict": "contaminated",
                        "offending": ["hazardous"],
                        "score": 0.1,
                        "weight_kg": None,
                        "items": [
                            {
                                "label": "battery",
                                "category": "hazardous",
                                "confidence": 0.9,
                                "box": {"x": 40, "y": 40, "w": 120, "h": 90},
                            }
                        ],
                        "evidence": {
                            "sha256": "0" * 64,
                            "bytes": len(photo),
                            "width": 320,
                            "height": 240,
                            "reason": "flagged",
                        },
                        "evidence_stored": n < WITH_EVIDENCE,
                        "audit": False,
                        "reviewed": False,
                    }
                )
            ids = session.execute(
                insert(Event).returning(Event.id, Event.event_id, Event.day), rows
            ).all()
            session.execute(
                insert(QueueItem),
                [
                    {
                        "reason": "flagged",
                        "event_id": rid,
                        "event_day": day,
                        "place_path": station.path,
                        "created_at": now - timedelta(seconds=30 * (start + k)),
                        "status": "open",
                    }
                    for k, (rid, _, day) in enumerate(ids)
                ],
            )
            for rid, event_id, _ in ids:
                if rid <= WITH_EVIDENCE:
                    store.put(event_id, photo)
            session.commit()
    engine.dispose()


def timed(client: httpx.Client, method: str, path: str, **kw: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.request(method, path, **kw)
    took = 1000 * (time.perf_counter() - started)
    assert response.status_code < 300, (path, response.status_code, response.text[:200])
    return took, response


def measure(settings: Settings, rounds: int) -> dict[str, Any]:
    port = free_port()
    server = serve(settings, port)
    open_ms, decide_ms = [], []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            token = client.post(
                "/api/v1/auth/login", json={"username": "sup", "password": PASSWORD}
            ).json()["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            for n in range(rounds + 3):
                a, queue = timed(client, "GET", "/api/v1/review/queue", params={"limit": 50})
                b, _ = timed(client, "GET", "/api/v1/review/count")
                first = queue.json()[0]
                c, _ = timed(client, "GET", first["event"]["evidence_url"])
                d, _ = timed(
                    client,
                    "POST",
                    f"/api/v1/review/items/{first['id']}/decision",
                    json={"decision": "confirm"},
                )
                e, _ = timed(client, "GET", "/api/v1/review/count")
                if n >= 3:  # warm-up
                    open_ms.append(a + b + c)
                    decide_ms.append(d + e)
    finally:
        server.terminate()
        server.wait(timeout=30)

    return {"open_page": latency(open_ms), "decision": latency(decide_ms), "rounds": rounds}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure as the median of the runs, each p95 with its range; the runs kept."""
    out: dict[str, Any] = {"rounds": runs[0]["rounds"], "runs": runs}
    for part in ("open_page", "decision"):
        out[part] = {
            key: statistics.median(r[part][key] for r in runs)
            for key in ("p50_ms", "p95_ms", "max_ms")
        } | {"p95_range": [min(r[part]["p95_ms"] for r in runs),
                           max(r[part]["p95_ms"] for r in runs)]}  # fmt: skip
    return out


def _span(values: list[float]) -> str:
    return f"{values[0]:.0f}–{values[1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--postgres")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per database (a fresh server each)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/review.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"items": args.items, "date": str(datetime.now(UTC).date())}
    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    admin, made = None, ""
    if args.postgres:
        made, admin = fresh_postgres(args.postgres)
        databases.append(("postgresql", made))
    try:
        run_all(databases, results, args)
    finally:
        if admin is not None:  # the PostgreSQL database made for the run goes with it
            drop_database(admin, made)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


def run_all(
    databases: list[tuple[str, str | None]], results: dict[str, Any], args: argparse.Namespace
) -> None:
    with tempfile.TemporaryDirectory(prefix="binwatch-review-") as tmp:
        for name, url in databases:
            settings = Settings(data_dir=Path(tmp) / name, database_url=url)
            seed(settings, args.items)
            runs = [measure(settings, args.rounds) for _ in range(args.repeat)]
            results[name] = r = summarize(runs)
            print(
                f"{name}: {args.items:,} open items, median of {len(runs)} runs (range): "
                f"opening the page p50 {r['open_page']['p50_ms']:.0f} ms, p95 "
                f"{r['open_page']['p95_ms']:.0f} ms ({_span(r['open_page']['p95_range'])}); "
                f"a decision p50 {r['decision']['p50_ms']:.0f} ms, "
                f"p95 {r['decision']['p95_ms']:.0f} ms ({_span(r['decision']['p95_range'])})"
            )


if __name__ == "__main__":
    main()
