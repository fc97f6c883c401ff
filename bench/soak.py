"""A soak of the whole loop under faults: does anything get lost or counted twice?

    .venv/bin/python -m bench.soak --out bench/results/soak.json

Three stations, each a `binwatch edge run` process on its own simulated station video (real test
photos from ../shared/datasets; a video is the station's accelerated day), against a real
`binwatch serve` on SQLite. First a clean run gives each station's drop-offs as the agent decides
them (the reference). Then the same videos again, from fresh outboxes, while:

- the service is restarted 3 times (down 12–20 s each time, so events and evidence queue up);
- agents are SIGKILLed 10 times in all and started again at once (a recording source restarted
  mid-file: it must resume after the frame whose outcome it last committed);
- station 3's `storage.min_free_mb` sits just above the free space its disk has (the real disk is
  never filled): its evidence must be evicted oldest-first, never an event;
- station 1's outbox holds one poison event (a bin the service does not know) and one
  unreadable row: both must end in the set-aside table, and the events behind them go on;
- station 2 is offered a model update whose file is corrupt at the service: it must be refused
  (after three tries) while the running model goes on.

Reported per station and in total: the reference's events, the service's events after the
faults, lost and duplicated (by count, and as multisets of bin, verdict and item labels), the
set-aside rows with their reasons, evidence kept and evicted, kills and restarts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.hostile import PASSWORD, start
from bench.ingest import free_port
from edge.outbox import Outbox
from edge.simulate import simulate
from vision.events import DropoffEvent
from vision.shipped import shipped_model_path

DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/waste-v1/manifest.csv"
STATIONS = ("ST1", "ST2", "ST3")


def places_csv() -> str:
    rows = [
        "kind,code,name,parent,category,profile,registered,cards",
        "district,D1,d,,,,,",
        "street,S1,s,D1,,,,",
        "community,C1,c,S1,,,,",
        "compound,K1,k,C1,,,,",
    ]
    for station in STATIONS:
        rows += [
            f"station,{station},gate,K1,,national,,",
            f"bin,{station}-K,kitchen,{station},kitchen,,,",
            f"bin,{station}-R,recyclable,{station},recyclable,,,",
        ]
    return "\n".join(rows) + "\n"


class Service:
    """`binwatch serve` on one data directory and port, stopped and started at will."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port, self.env = data_dir, free_port(), env or {}
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = start(data_dir, self.port, self.env)
        self.restarts = self.killed = 0

    def restart(self, down_s: float) -> None:
        self.stop()
        time.sleep(down_s)
        log = (self.data_dir / f"serve-{self.restarts + 1}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "binwatch", "serve", "--port", str(self.port)],
            env={**os.environ, "BINWATCH_DATA_DIR": str(self.data_dir), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.restarts += 1

    def stop(self) -> None:
        """SIGTERM, as a restart sends it; SIGKILL if it has not ended in 60 s (counted)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.killed += 1
            self.process.kill()
            self.process.wait(timeout=60)


def prepare(service: Service, work: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Places, the stations' devices (their tokens) and the admin's headers."""
    api = f"{service.url}/api/v1"
    login = {"username": "root", "password": PASSWORD}
    admin = {
        "Authorization": f"Bearer {httpx.post(f'{api}/auth/login', json=login).json()['token']}"
    }
    made = httpx.post(
        f"{api}/places/import",
        content=places_csv(),
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert made.status_code == 200, made.text
    tokens = {}
    for station in STATIONS:
        device = httpx.post(
            f"{api}/devices", json={"code": f"cam-{station}", "station": station}, headers=admin
        )
        assert device.status_code == 201, device.text
        tokens[station] = device.json()["token"]
    return tokens, admin


def corrupt_update(service: Service, admin: dict[str, str], work: Path) -> str:
    """A valid model under a new version, canary at ST2, its file then damaged at the service."""
    import onnx

    from vision.metadata import METADATA_KEY

    shipped = shipped_model_path()
    assert shipped is not None
    model = onnx.load(str(shipped))
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            data = json.loads(prop.value)
            data["model_version"] = "soak-corrupt-1"
            prop.value = json.dumps(data)
    path = work / "update.onnx"
    onnx.save(model, str(path))
    api = f"{service.url}/api/v1"
    headers = {**admin, "Content-Type": "application/octet-stream"}
    made = httpx.post(f"{api}/models", content=path.read_bytes(), headers=headers, timeout=120)
    assert made.status_code == 201, made.text
    sha = str(made.json()["sha256"])
    moved = httpx.post(
        f"{api}/models/soak-corrupt-1/state",
        json={"state": "canary", "stations": ["ST2"]},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    stored = service.data_dir / "models" / f"{sha}.onnx"
    if not stored.is_file():
        stored = next(service.data_dir.rglob(f"{sha}*"))
    stored.write_bytes(stored.read_bytes()[:-64] + bytes(64))
    return sha


def config(
    station: str,
    truth: dict[str, Any],
    video: Path,
    storage_dir: Path,
    url: str,
    token: str,
    **extra: Any,
) -> dict[str, Any]:
    made: dict[str, Any] = {
        "device_id": f"cam-{station}",
        "station_id": station,
        "pseudonym_key": "station-secret-key-0001",
        "service": {"url": url, "token": token, "interval_s": 0.3, "backoff_max_s": 2.0},
        "bins": [
            {"id": b["id"], "category": b["category"], "roi": b["roi"]} for b in truth["bins"]
        ],
        "source": {"kind": "file", "uri": str(video), "fps": 60},
        "evidence": {"audit_share": 0.2},
        "storage": {"dir": str(storage_dir)},
        "model": {"update": True, "check_interval_s": 2, "threads": 1},
        "metrics": {"port": 0, "heartbeat_s": 600},
    }
    for key, value in extra.items():
        made[key] = {**made.get(key, {}), **value}
    return made


def agent(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "binwatch", "edge", "run", str(path), "--drain-timeout", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def outbox_events(storage: Path) -> list[DropoffEvent]:
    with sqlite3.connect(storage / "outbox.db") as db:
        rows = db.execute("SELECT body FROM events WHERE state != 'rejected' ORDER BY seq")
        return [DropoffEvent.model_validate_json(body) for (body,) in rows]


def service_events(
    data_dir: Path,
) -> tuple[dict[str, list[tuple[str, str, tuple[str, ...]]]], dict[str, Counter[str]]]:
    """Per station: (bin, verdict, item labels) of each stored event, and the model versions."""
    with sqlite3.connect(data_dir / "binwatch.db") as db:
        rows = db.execute(
            "SELECT p.code, b.code, e.verdict, e.items, e.model_version FROM events e "
            "JOIN places p ON p.id = e.station_id JOIN bins b ON b.id = e.bin_id"
        ).fetchall()
    out: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {s: [] for s in STATIONS}
    models: dict[str, Counter[str]] = {s: Counter() for s in STATIONS}
    for station, bin_code, verdict, items, model in rows:
        labels = tuple(sorted(i["label"] for i in json.loads(items)))
        out[station].append((bin_code, verdict, labels))
        models[station][model] += 1
    return out, models


def key(event: DropoffEvent) -> tuple[str, str, tuple[str, ...]]:
    return event.bin_id, event.verdict.value, tuple(sorted(i.label for i in event.items))


def poison(storage: Path, station: str) -> None:
    """One event of a bin the service does not know, and one row that is not an event."""
    box = Outbox(storage, 10**9)
    box.add(
        DropoffEvent.model_validate(
            {
                "event_id": str(uuid.uuid4()),
                "device_id": f"cam-{station}",
                "station_id": station,
                "bin_id": f"{station}-X",
                "bin_category": "kitchen",
                "profile": "national",
                "captured_at": datetime.now(UTC).isoformat(),
                "model_version": "soak",
                "items": [{"label": "food_waste", "category": "kitchen", "confidence": 0.9}],
                "verdict": "correct",
                "score": 0.9,
            }
        )
    )
    with box._transaction() as db:
        db.execute("INSERT INTO events (event_id, body, created) VALUES ('garbled', '{', 0)")
    box.close()


def run_all(
    configs: dict[str, Path], kills: int, service: Service | None, seed: int, span: float
) -> dict[str, int]:
    """Run every station's agent to the end of its video; within the first `span` seconds,
    SIGKILL `kills` times at random and restart the service 3 times (when given). Returns
    kills per station."""
    rng = random.Random(seed)
    running = {s: agent(path) for s, path in configs.items()}
    killed: Counter[str] = Counter()
    restarts_due = [span * share for share in (0.25, 0.5, 0.75)] if service else []
    kill_times = sorted(rng.uniform(2, span) for _ in range(kills))
    started = time.monotonic()
    while any(p.poll() is None for p in running.values()) or kill_times:
        now = time.monotonic() - started
        if restarts_due and now >= restarts_due[0] and service is not None:
            restarts_due.pop(0)
            service.restart(down_s=rng.uniform(12, 20))  # long enough for evidence to queue
        if kill_times and now >= kill_times[0]:
            kill_times.pop(0)
            alive = [s for s, p in running.items() if p.poll() is None]
            if alive:
                victim = rng.choice(alive)
                running[victim].send_signal(signal.SIGKILL)
                running[victim].wait()
                killed[victim] += 1
                running[victim] = agent(configs[victim])
        if now > 1800:
            raise SystemExit("the soak did not finish in 30 minutes")
        time.sleep(0.2)
    failed = {s: p.returncode for s, p in running.items() if p.returncode != 0}
    if failed:
        raise SystemExit(f"agents ended with errors: {failed}")
    return dict(killed)


def soak(dropoffs: int, kills: int, seed: int, keep: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = keep or Path(tmp)
        videos = {}
        for n, station in enumerate(STATIONS):
            out = work / "videos" / station
            out.mkdir(parents=True)
            truth = simulate(
                DATA, out / "station.mp4", out / "truth.json", dropoffs, seed + n, station=station
            )
            videos[station] = (out / "station.mp4", truth)
        # the reference: each video once, no faults, its own service
        reference_service = Service(work / "reference-service")
        tokens, _ = prepare(reference_service, work)
        configs = {}
        for station, (video, truth) in videos.items():
            path = work / f"reference-{station}.yaml"
            cfg = config(station, truth, video, work / "ref" / station, reference_service.url,
                         tokens[station], model={"update": False})  # fmt: skip
            path.write_text(json.dumps(cfg))
            configs[station] = path
        began = time.monotonic()
        run_all(configs, kills=0, service=None, seed=seed, span=0)
        clean_seconds = time.monotonic() - began
        reference = {s: [key(e) for e in outbox_events(work / "ref" / s)] for s in STATIONS}
        reference_service.stop()

        service = Service(work / "service", {"BINWATCH_AUDIT_SHARE": "1.0"})  # evidence always
        tokens, admin = prepare(service, work)
        corrupt_sha = corrupt_update(service, admin, work)
        configs = {}
        for station, (video, truth) in videos.items():
            storage = work / "edge" / station
            extra: dict[str, Any] = {}
            if station == "ST1":
                poison(storage, station)
            if station == "ST3":
                storage.mkdir(parents=True)
                free_mb = shutil.disk_usage(storage).free / 1e6
                extra["storage"] = {"min_free_mb": free_mb + 5}
            cfg = config(station, truth, video, storage, service.url, tokens[station], **extra)
            path = work / f"{station}.yaml"
            path.write_text(json.dumps(cfg))
            configs[station] = path
        started = time.monotonic()
        span = 0.7 * clean_seconds  # the faults fall while the videos are still being read
        killed = run_all(configs, kills=kills, service=service, seed=seed, span=span)
        seconds = time.monotonic() - started
        stored, models_used = service_events(service.data_dir)
        service.stop()
        stations = {}
        for station in STATIONS:
            storage = work / "edge" / station
            box = Outbox(storage, 10**9)
            stats, dead = box.stats(), box.dead()
            box.close()
            want, got = Counter(reference[station]), Counter(stored[station])
            downloaded = sorted(p.name for p in (storage / "models").glob("*.onnx"))
            stations[station] = {
                "reference_events": len(reference[station]),
                "service_events": len(stored[station]),
                "lost": max(0, len(reference[station]) - len(stored[station])),
                "duplicated": max(0, len(stored[station]) - len(reference[station])),
                "differ_as_multisets": sum((want - got).values()) + sum((got - want).values()),
                "pending_in_outbox": stats.pending_events,
                "set_aside": [{"event": e, "reason": (r or "")[:120]} for e, _, r in dead],
                "evidence_pending": stats.pending_evidence,
                "evidence_evicted": stats.dropped_evidence,
                "kills": killed.get(station, 0),
                "corrupt_model_kept": f"{corrupt_sha}.onnx" in downloaded,
                "events_by_model": dict(models_used[station]),
            }
        return {
            "dropoffs_per_video": dropoffs,
            "seconds_clean": round(clean_seconds, 1),
            "seconds_under_faults": round(seconds, 1),
            "service_restarts": service.restarts,
            "service_stops_that_needed_sigkill": service.killed,
            "agent_kills": sum(killed.values()),
            "lost": sum(s["lost"] for s in stations.values()),
            "duplicated": sum(s["duplicated"] for s in stations.values()),
            "stations": stations,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--dropoffs", type=int, default=25, help="drop-offs per station video")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="work here and keep it (videos, logs, data)")
    args = parser.parse_args()
    result = soak(args.dropoffs, args.kills, args.seed, args.keep)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
