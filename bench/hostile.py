"""What a stranger can do to a fresh `binwatch serve`: the probes of issue 12, measured.

    .venv/bin/python -m bench.hostile --out bench/results/hostile.json

A real service (`binwatch serve`, uvicorn, one worker, SQLite) on loopback, an admin made with
`binwatch users create --password-stdin`. Reported: the decompression bombs (status, seconds,
the server's resident memory growth), 50 MB JSON bodies (status, answer size), sign-in time for
unknown users against a known user with wrong passwords (median of 5 each, and their ratio), 60
failed sign-ins (how many got 429), ids past 2^63, 30 public reports in a burst, and /health's
latency (median and worst of its polls) while bombs, 50 MB bodies, 39-megapixel photos and model
uploads are in flight.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from bench.ingest import free_port, healthy
from vision.shipped import shipped_model_path

PASSWORD = "a long admin password"
PLACES = (
    "kind,code,name,parent\ndistrict,D1,d,\nstreet,S1,s,D1\ncommunity,C1,c,S1\ncompound,K1,k,C1\n"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bomb(side: int) -> bytes:
    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    at = data.find(b"\xff\xc0")
    data[at + 5 : at + 9] = side.to_bytes(2, "big") + side.to_bytes(2, "big")
    return bytes(data)


def large_photo() -> bytes:
    image = np.empty((4800, 8192, 3), np.uint8)
    image[:] = np.linspace(0, 255, 8192).astype(np.uint8)[None, :, None]
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())


def start(data_dir: Path, port: int, settings: dict[str, str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {"BINWATCH_DATA_DIR": str(data_dir), **settings}
    subprocess.run(
        [sys.executable, "-m", "binwatch", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "binwatch", "users", "create", "root", "--role", "admin",
         "--password-stdin"],
        env=env, input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "binwatch", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return healthy(server, port)


def timed(send: Callable[[], httpx.Response], pid: int) -> dict[str, Any]:
    before = rss_mb(pid)
    started = time.perf_counter()
    response = send()
    return {
        "status": response.status_code,
        "seconds": round(time.perf_counter() - started, 3),
        "answer_bytes": len(response.content),
        "rss_growth_mb": round(rss_mb(pid) - before, 1),
    }


def under_load(api: str, url: str, admin: dict[str, str], seconds: float) -> dict[str, Any]:
    photo, model = large_photo(), shipped_model_path()
    assert model is not None
    stop, answers = threading.Event(), Counter[str]()

    def keep(name: str, send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                answers[f"{name} {send(client).status_code}"] += 1

    body = b'{"username": "' + b"a" * 50_000_000 + b'", "password": "x"}'
    senders = {
        "photo": lambda c: c.post(
            f"{api}/public/reports", data={"place": "K1"}, files={"image": ("p.jpg", photo)}
        ),
        "bomb": lambda c: c.post(
            f"{api}/public/reports", data={"place": "K1"}, files={"image": ("b.jpg", bomb(30000))}
        ),
        "body": lambda c: c.post(
            f"{api}/auth/login", content=body, headers={"Content-Type": "application/json"}
        ),
        "model": lambda c: c.post(f"{api}/models", content=model.read_bytes(), headers=admin),
    }
    threads = [threading.Thread(target=keep, args=item, daemon=True) for item in senders.items()]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    waits = []
    with httpx.Client(timeout=60) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            begun = time.perf_counter()
            client.get(f"{url}/health")
            waits.append(time.perf_counter() - begun)
            time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return {
        "health_polls": len(waits),
        "health_median_ms": round(1000 * statistics.median(waits), 1),
        "health_worst_ms": round(1000 * max(waits), 1),
        "answers": dict(answers),
    }


@dataclass
class Running:
    pid: int
    url: str
    api: str
    admin: dict[str, str]


@contextlib.contextmanager
def running(**env: str) -> Iterator[Running]:
    """A fresh `binwatch serve` with an admin and one compound (K1), stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = start(Path(tmp), port, env)
        try:
            api = f"{url}/api/v1"
            login = {"username": "root", "password": PASSWORD}
            token = httpx.post(f"{api}/auth/login", json=login).json()["token"]
            admin = {"Authorization": f"Bearer {token}"}
            csv = {**admin, "Content-Type": "text/csv"}
            places = httpx.post(f"{api}/places/import", content=PLACES, headers=csv)
            assert places.status_code == 200, places.text
            yield Running(server.pid, url, api, admin)
        finally:
            server.terminate()
            server.wait(timeout=30)


UNLIMITED = {  # the load phase sends hundreds of reports from one address
    "BINWATCH_PUBLIC_REPORTS_PER_CLIENT": "100000",
    "BINWATCH_PUBLIC_REPORTS_PER_PLACE": "100000",
}


def probe(seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with running(**UNLIMITED) as service:
        out["under_load"] = under_load(service.api, service.url, service.admin, seconds)
    with running() as service:
        api, pid, admin = service.api, service.pid, service.admin
        out["rss_start_mb"] = round(rss_mb(pid), 1)
        big = b'{"x": "' + b"a" * 50_000_000 + b'"}'

        def post_bomb(side: int) -> httpx.Response:
            files = {"image": ("b.jpg", bomb(side), "image/jpeg")}
            return httpx.post(f"{api}/public/reports", data={"place": "K1"}, files=files)

        def post_big(route: str) -> httpx.Response:
            headers = {"Content-Type": "application/json"}
            return httpx.post(f"{api}{route}", content=big, headers=headers, timeout=120)

        for side in (30000, 40000):
            out[f"bomb_{side}"] = timed(functools.partial(post_bomb, side), pid)
        for route in ("/auth/login", "/public/appeals", "/ingest/events"):
            out[f"json_50mb {route}"] = timed(functools.partial(post_big, route), pid)
        huge = 2**63
        out["id_2^63"] = {
            path: httpx.get(f"{api}{path}", headers=admin).status_code
            for path in (f"/reports/{huge}/image", f"/review/items/{huge}/reviews")
        }
        burst = Counter(
            httpx.post(f"{api}/public/reports", data={"place": "K1", "text": "x"}).status_code
            for _ in range(30)
        )
        out["reports_burst_30"] = dict(burst)

        def sign_in(username: str) -> float:
            begun = time.perf_counter()
            httpx.post(f"{api}/auth/login", json={"username": username, "password": "no!"})
            return time.perf_counter() - begun

        unknown = statistics.median(sign_in(f"nobody{i}") for i in range(5))
        known = statistics.median(sign_in("root") for _ in range(5))
        out["sign_in_ms"] = {
            "unknown_user_median": round(1000 * unknown, 1),
            "known_user_wrong_password_median": round(1000 * known, 1),
            "ratio": round(max(unknown, known) / min(unknown, known), 2),
        }
        answers = Counter(
            httpx.post(
                f"{api}/auth/login", json={"username": "root", "password": f"guess {i}"}
            ).status_code
            for i in range(60)
        )
        out["failed_sign_ins_60"] = dict(answers)
        out["rss_end_mb"] = round(rss_mb(pid), 1)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--seconds", type=float, default=10.0, help="the load phase's length")
    args = parser.parse_args()
    result = probe(args.seconds)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
