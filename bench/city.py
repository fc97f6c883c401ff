"""A city's day, compressed: simulated stations against `binwatch serve --workers 4` on
PostgreSQL, evidence in an S3 bucket on a loopback S3 server (moto's, a process of its own),
everything over HTTP as the edge agent sends it.

    .venv/bin/python -m bench.city --postgres postgresql://postgres@127.0.0.1:54329/postgres \
        --devices 200 --out bench/results/city.json

1. Saturation: every device posts batches of `--batches` events back to back (a closed loop:
   the next batch when the last is answered; one phase per batch size), 10 % of events with an
   evidence JPEG uploaded right after its batch (real photos from ../shared/datasets, 640×480),
   for `--seconds`. Reported:
   stored events/s, p50/p99 latency of the event posts and of the evidence uploads, evidence
   MB/s, and each process group's CPU share (service workers, PostgreSQL, the S3 server, this
   load generator) of the machine's cores, read from /proc.
2. The peak hour of a `--day`-event day (`--peak-share` of the day in its busiest hour) replayed
   at each of `--speedups` (1× and 10×): an open loop, each device sending on its own schedule
   what the edge would have gathered in its upload interval (rate × interval / devices events);
   reported:
   the rate asked and the rate stored, latencies, how far behind the schedule sending fell and
   the events still unsent at the end (a backlog means this deployment cannot take that peak).

Everything shares one machine: the figures bound the service from below (the load generator
and the S3 server take cores the workers would otherwise have).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from api.db.engine import make_engine, make_sessionmaker
from api.db.migrate import upgrade
from api.devices import register_device
from api.places import import_csv
from api.settings import Settings
from bench.ingest import drop_database, free_port, fresh_postgres, healthy

log = logging.getLogger("bench.city")
BINS = ("kitchen", "recyclable", "hazardous", "other")
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "binwatch-bench",
    "AWS_SECRET_ACCESS_KEY": "binwatch-bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def places_csv(devices: int) -> str:
    """One station of four bins per compound, 50 compounds per street."""
    lines = ["kind,code,name,parent,category", "district,D1,District,,"]
    for s in range(0, devices, 50):
        street = f"S{s // 50}"
        lines += [f"street,{street},{street},D1,", f"community,C{s // 50},c,{street},"]
        for k in range(s, min(s + 50, devices)):
            lines += [f"compound,K{k},k{k},C{s // 50},", f"station,ST{k},st{k},K{k},"]
            lines += [f"bin,B{k}-{c[0]},{c},ST{k},{c}" for c in BINS]
    return "\n".join(lines) + "\n"


def prepare(settings: Settings, devices: int) -> list[str]:
    engine = make_engine(settings)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        result = import_csv(session, places_csv(devices))
        assert not result.errors, result.errors[:3]
        tokens = [register_device(session, f"cam-{k}", f"ST{k}")[1] for k in range(devices)]
        session.commit()
    engine.dispose()
    return tokens


def photos(count: int = 24) -> list[bytes]:
    """Evidence JPEGs: real photos from the shared datasets at a camera's 640×480, else noise."""
    found = sorted((DATASETS / "waste-v1").rglob("*.jpg"))[:count]
    rng = np.random.default_rng(0)
    out = []
    for k in range(count):
        image = cv2.imread(str(found[k])) if k < len(found) else None
        if image is None:
            image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        ok, jpeg = cv2.imencode(
            ".jpg", cv2.resize(image, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        assert ok
        out.append(jpeg.tobytes())
    return out


@dataclass
class Load:
    """What a phase measured."""

    posts: list[float] = field(default_factory=list)  # seconds per event post
    uploads: list[float] = field(default_factory=list)  # seconds per evidence upload
    stored: int = 0
    evidence_bytes: int = 0
    errors: int = 0
    transport_errors: dict[str, int] = field(default_factory=dict)
    behind_s: float = 0.0  # open loop: how late the latest batch went out
    backlog: int = 0  # open loop: events scheduled but not sent by the end

    def summary(self, seconds: float) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            return float(np.percentile(np.array(values) * 1000, q))

        return {
            "seconds": seconds,
            "events_stored": self.stored,
            "events_per_s": self.stored / seconds,
            "posts_per_s": len(self.posts) / seconds,
            "evidence_mb_per_s": self.evidence_bytes / seconds / 1e6,
            "evidence_uploads": len(self.uploads),
            "post_p50_ms": pct(self.posts, 50),
            "post_p99_ms": pct(self.posts, 99),
            "upload_p50_ms": pct(self.uploads, 50),
            "upload_p99_ms": pct(self.uploads, 99),
            "errors": self.errors,
            "transport_errors": self.transport_errors,
            "behind_schedule_s": self.behind_s,
            "backlog_events": self.backlog,
        }


class Device:
    def __init__(self, k: int, token: str, images: list[bytes], share: float, seed: int):
        self.k, self.token, self.images, self.share = k, token, images, share
        self.rng = np.random.default_rng(seed)
        self.digests = [hashlib.sha256(i).hexdigest() for i in images]

    def batch(self, size: int, now: datetime) -> tuple[bytes, list[tuple[str, bytes]]]:
        events, evidence = [], []
        for _ in range(size):
            event_id = str(uuid.uuid4())
            category = BINS[int(self.rng.integers(4))]
            wrong = self.rng.random() < 0.2
            items = [{"label": "food_waste" if category == "kitchen" else "plastic",
                      "category": category, "confidence": 0.9}]  # fmt: skip
            if wrong:
                other = "hazardous" if category != "hazardous" else "kitchen"
                items.append({"label": "battery" if other == "hazardous" else "food_waste",
                              "category": other, "confidence": 0.8})  # fmt: skip
            body: dict[str, Any] = {
                "event_id": event_id, "device_id": f"cam-{self.k}", "station_id": f"ST{self.k}",
                "bin_id": f"B{self.k}-{category[0]}", "bin_category": category,
                "profile": "national", "household": f"{self.rng.integers(1 << 40):032x}",
                "captured_at": now.isoformat(), "model_version": "lite0-waste-2.2",
                "items": items, "verdict": "contaminated" if wrong else "correct",
                "offending": [items[-1]["category"]] if wrong else [], "score": 0.9,
            }  # fmt: skip
            if self.rng.random() < self.share:
                pick = int(self.rng.integers(len(self.images)))
                body["evidence"] = {
                    "sha256": self.digests[pick], "bytes": len(self.images[pick]),
                    "width": 640, "height": 480, "reason": "flagged" if wrong else "audit",
                }  # fmt: skip
                if not wrong:
                    body["audit_share"] = self.share
                evidence.append((event_id, self.images[pick]))
            events.append(body)
        batch = {"device_id": f"cam-{self.k}", "sent_at": now.isoformat(), "events": events}
        return json.dumps(batch).encode(), evidence

    async def send(self, client: httpx.AsyncClient, size: int, load: Load) -> None:
        """One upload round as the agent makes it; a dropped connection is counted (the agent
        would send the same batch again next round) and the device goes on."""
        try:
            await self._send(client, size, load)
        except httpx.TransportError as exc:
            load.errors += 1
            load.transport_errors[type(exc).__name__] = (
                load.transport_errors.get(type(exc).__name__, 0) + 1
            )

    async def _send(self, client: httpx.AsyncClient, size: int, load: Load) -> None:
        body, evidence = self.batch(size, datetime.now(UTC))
        auth = {"Authorization": f"Bearer {self.token}"}
        started = time.perf_counter()
        response = await client.post(
            "/api/v1/ingest/events", content=body,
            headers={**auth, "Content-Type": "application/json"},
        )  # fmt: skip
        load.posts.append(time.perf_counter() - started)
        if response.status_code != 200:
            load.errors += 1
            return
        load.stored += sum(r["status"] == "stored" for r in response.json()["results"])
        for event_id, jpeg in evidence:
            started = time.perf_counter()
            put = await client.put(
                f"/api/v1/ingest/evidence/{event_id}", content=jpeg,
                headers={**auth, "Content-Type": "image/jpeg"},
            )  # fmt: skip
            load.uploads.append(time.perf_counter() - started)
            if put.status_code == 200:
                load.evidence_bytes += len(jpeg)
            else:
                load.errors += 1


async def saturate(url: str, devices: list[Device], size: int, seconds: float) -> Load:
    load = Load()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=len(devices))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def loop(device: Device) -> None:
            while time.perf_counter() < deadline:
                await device.send(client, size, load)

        await asyncio.gather(*(loop(d) for d in devices))
    return load


async def replay(url: str, devices: list[Device], size: int, rate: float, seconds: float) -> Load:
    """Open loop: device k sends a batch every len(devices)·size/rate seconds, phase-shifted."""
    load = Load()
    every = len(devices) * size / rate
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=len(devices))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def scheduled(k: int, device: Device) -> None:
            end = start + seconds
            due = start + every * k / len(devices)
            while due < end and time.perf_counter() < end:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                load.behind_s = max(load.behind_s, time.perf_counter() - due)
                await device.send(client, size, load)
                due += every
            if due < end:  # what the schedule asked of this device and it never got to send
                load.backlog += size * math.ceil((end - due) / every)

        await asyncio.gather(*(scheduled(k, d) for k, d in enumerate(devices)))
    return load


TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> tuple[str, int, float]:
    """(command name, parent pid, CPU seconds) of a process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return name, int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK


def cpu_by_group(serve: int, s3: int) -> dict[str, float]:
    """CPU seconds so far of the service (its process and every descendant), PostgreSQL, the S3
    server and this load generator."""
    table: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = _cpu(int(entry.name))
            except (OSError, ValueError):
                continue

    def under(root: int, pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = table.get(pid, ("", 0, 0.0))[1]
        return False

    groups = dict.fromkeys(("service", "postgresql", "s3", "load generator"), 0.0)
    for pid, (name, _, seconds) in table.items():
        if under(serve, pid):
            groups["service"] += seconds
        elif name.startswith("postgres"):
            groups["postgresql"] += seconds
        elif under(s3, pid):
            groups["s3"] += seconds
        elif pid == os.getpid():
            groups["load generator"] += seconds
    return groups


def machine_cpu() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # all but idle and iowait


def measured(phase: Any, serve: int, s3: int) -> tuple[Load, dict[str, Any]]:
    before, busy, wall = cpu_by_group(serve, s3), machine_cpu(), time.perf_counter()
    load = asyncio.run(phase)
    seconds = time.perf_counter() - wall
    after = cpu_by_group(serve, s3)
    cores = os.cpu_count() or 1
    shares = {k: (after[k] - before[k]) / (seconds * cores) for k in after}
    shares["machine busy"] = (machine_cpu() - busy) / (seconds * cores)
    return load, {**load.summary(seconds), "cpu_share_of_machine": shares}


def start_s3() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(endpoint, timeout=1)
            return server, endpoint
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the S3 server did not start")


def serve(
    settings: Settings, env: dict[str, str], workers: int
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "binwatch", "serve", "--port", str(port), "--workers",
         str(workers), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return healthy(server, port), f"http://127.0.0.1:{port}"


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    s3, endpoint = start_s3()
    url, admin = fresh_postgres(args.postgres)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINWATCH_", "AWS_"))}
    env |= CREDENTIALS | {
        "AWS_ENDPOINT_URL": endpoint,
        "BINWATCH_DATA_DIR": str(work),
        "BINWATCH_DATABASE_URL": url,
        "BINWATCH_STORAGE_URL": "s3://binwatch-city/files",
        "BINWATCH_STORAGE_CREATE": "1",
    }
    os.environ.update(CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint})
    settings = Settings(data_dir=work, database_url=url)
    tokens = prepare(settings, args.devices)
    images = photos()
    devices = [Device(k, t, images, args.evidence_share, k) for k, t in enumerate(tokens)]
    server, base = serve(settings, env, args.workers)
    result: dict[str, Any] = {"saturation": {}}
    try:
        for size in args.batches:
            log.info(
                "saturation: %d devices, batches of %d, %d s", len(devices), size, args.seconds
            )
            phase = saturate(base, devices, size, args.seconds)
            _, found = measured(phase, server.pid, s3.pid)
            result["saturation"][str(size)] = found
            log.info("saturation: %s", found)
        result["peak_hour"] = {}
        for speedup in args.speedups:
            rate = args.day * args.peak_share / 3600 * speedup
            size = max(1, round(rate * args.interval / len(devices)))
            log.info("peak hour at %g×: %.0f events/s in batches of %d for %d s", speedup, rate,
                     size, args.peak_seconds)  # fmt: skip
            phase = replay(base, devices, size, rate, args.peak_seconds)
            _, peak = measured(phase, server.pid, s3.pid)
            peak |= {"events_per_s_asked": rate, "batch": size}
            result["peak_hour"][f"{speedup:g}"] = peak
            log.info("peak: %s", peak)
    finally:
        server.terminate()
        server.wait(timeout=60)
        s3.terminate()
        drop_database(admin, url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="a server URL; a fresh database is made")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--batches", type=lambda v: [int(b) for b in v.split(",")], default=[1, 10],
        help="saturation: events per post, one phase each (a quiet station sends 1)",
    )  # fmt: skip
    parser.add_argument("--interval", type=float, default=2.0, help="the edge's upload interval")
    parser.add_argument("--evidence-share", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=60, help="saturation phase")
    parser.add_argument("--day", type=float, default=6_000_000, help="the city's drop-offs a day")
    parser.add_argument(
        "--peak-share", type=float, default=0.15, help="of the day in its peak hour"
    )
    parser.add_argument(
        "--speedups",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[1.0, 10.0],
        help="the peak hour replayed at these speeds, one phase each",
    )
    parser.add_argument("--peak-seconds", type=float, default=120, help="of the replay")
    parser.add_argument("--out", type=Path, default=Path("bench/results/city.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="binwatch-city-") as tmp:
        result = run(args, Path(tmp))
    result |= {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "date": str(date.today()),
        "args": {k: str(v) for k, v in vars(args).items() if k != "postgres"},
    }
    phases = [(f"saturation, batches of {k}", r) for k, r in result["saturation"].items()]
    phases += [(f"peak hour ×{k}", r) for k, r in result["peak_hour"].items()]
    for name, r in phases:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in r["cpu_share_of_machine"].items())
        asked = f" of {r['events_per_s_asked']:,.0f} asked" if "events_per_s_asked" in r else ""
        print(
            f"{name}: {r['events_per_s']:,.0f} events/s stored{asked}, posts p50/p99 "
            f"{r['post_p50_ms']:.0f}/{r['post_p99_ms']:.0f} ms, evidence "
            f"{r['evidence_mb_per_s']:.2f} MB/s (uploads p99 {r['upload_p99_ms'] or 0:.0f} ms), "
            f"errors {r['errors']}, behind {r['behind_schedule_s']:.1f} s, "
            f"backlog {r['backlog_events']:,} events; CPU: {shares}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
