"""`binwatch demo`: the whole system on one machine, from the installed package alone.

Starts the service on SQLite, seeds a street of compounds with households and users, composes a
station video per compound (from `--images DIR/<fine label>/*.jpg` when given, otherwise from
items it draws itself), runs an edge agent per station with the shipped model against the
service (a freshly composed video follows each one: `binwatch.demo_stations`), and opens the
dashboard. It prints what it does and runs until stopped (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import httpx

    from binwatch.demo_stations import Compose, Station

DESCRIPTION = "run the whole system on this machine: service, stations, dashboard"
SERVICE_ZONE = ZoneInfo("Asia/Shanghai")  # the service's default BINWATCH_TIMEZONE
HOUSEHOLDS = 40  # the street's households; the simulated videos swipe CARD-0001 … CARD-0040
KEY = "demo-street-key-S1"  # one pseudonym key per street: one household at every station


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="the service's port")
    parser.add_argument("--dir", type=Path, default=Path("binwatch-demo"), help="working folder")
    parser.add_argument("--stations", type=int, default=3, choices=range(1, 9))
    parser.add_argument("--images", type=Path, help="photos in DIR/<fine label>/*.jpg")
    parser.add_argument(
        "--dropoffs", type=int, default=10, help="per station video (a new one follows each)"
    )
    parser.add_argument("--password", help="for the demo users (default: a random one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _binwatch(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "binwatch", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"binwatch {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def _places(stations: int) -> str:
    from edge.privacy import pseudonym

    rows = [
        "kind,code,name,parent,category,profile,registered,cards,lat,lon",
        "district,D1,Demo district 示范区,,,,,,,",
        "street,S1,Demo street 示范街道,D1,,,,,,",
        "community,C1,Demo community 示范社区,S1,,,,,,",
    ]
    for n in range(1, stations + 1):
        rows.append(f"compound,K{n},Compound {n} 小区{n},C1,,,,,,")
        rows.append(
            f"station,ST{n},Gate {n},K{n},,national,,,"
            f"{31.2300 + 0.004 * n:.4f},{121.4700 + 0.006 * (n % 3):.4f}"
        )
        rows.append(f"bin,ST{n}-K,kitchen,ST{n},kitchen,,,,,")
        rows.append(f"bin,ST{n}-R,recyclable,ST{n},recyclable,,,,,")
    # the street's households live in its compounds in turn and drop off at every station; each
    # counts for its own compound wherever it drops off
    for h in range(1, HOUSEHOLDS + 1):
        card = pseudonym(f"CARD-{h:04d}", KEY)
        rows.append(f"household,H{h},,K{(h - 1) % stations + 1},,,yes,{card},,")
    return "\n".join(rows) + "\n"


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the service stopped while starting; see binwatch-demo/service.log")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"the service did not answer at {url} within {seconds:.0f} s")


# a few households sort badly (a wrong item in most drop-offs), the rest well: the follow-up
# list, the household table and the map then have something to tell apart
CARELESS = frozenset(f"CARD-{n:04d}" for n in (7, 14, 23, 31))
WRONG_SHARE = 0.08


def _seed(work: Path, stations: int, password: str, env: dict[str, str]) -> dict[int, str]:
    """A fresh demo: the street, its users and a device per station; the devices' tokens."""
    _say(f"seeding a street with {stations} compounds, {HOUSEHOLDS} households, users")
    places = work / "places.csv"
    places.write_text(_places(stations), encoding="utf-8")
    _binwatch("places", "import", str(places), env=env)
    for name, role, scope in (
        ("admin", "admin", []),
        ("supervisor", "supervisor", ["C1"]),
        ("office", "office", ["S1"]),
        ("engineer", "engineer", []),
    ):
        extra = [a for code in scope for a in ("--scope", code)]
        _binwatch(
            "users", "create", name, "--role", role, *extra, "--password-stdin",
            env=env, stdin=password + "\n",
        )  # fmt: skip
    tokens = {}
    for n in range(1, stations + 1):
        out = _binwatch("devices", "create", f"cam-ST{n}", "--station", f"ST{n}", env=env)
        tokens[n] = out.strip().splitlines()[-1]
    (work / "secrets.json").write_text(json.dumps({"password": password, "tokens": tokens}))
    return tokens


def _share(items: list[dict[str, str]], n: int, stations: int) -> list[dict[str, str]]:
    """Station n's photos: every `stations`-th of each category (all of a category with fewer
    photos than stations)."""
    by_category: dict[str, list[dict[str, str]]] = {}
    for row in items:
        by_category.setdefault(row["category"], []).append(row)
    share = []
    for rows in by_category.values():
        share += rows[n - 1 :: stations] if len(rows) >= stations else rows
    return share


def _composer(work: Path, items: list[dict[str, str]], stations: int, dropoffs: int) -> Compose:
    """How a station's next video is made: from its own share of the photos (stations do not
    show each other's), dealt without repeats across its videos (the deck's place is kept in
    the working folder, beside the segment number)."""
    from edge.simulate import Deck, simulate

    def compose(video: Path, truth: Path, seed: int, station: str) -> None:
        n = int(station.removeprefix("ST"))
        share = _share(items, n, stations)
        state = work / f"{station}.deck.json"
        dealt = json.loads(state.read_text()) if state.exists() else {}
        deck = Deck(share, seed=n, dealt=dealt)
        simulate(share, video, truth, dropoffs=dropoffs, seed=seed, station=station, cards=True,
                 deck=deck, careless=CARELESS, wrong_share=WRONG_SHARE)  # fmt: skip
        state.write_text(json.dumps(deck.state()))

    return compose


def _register_model(client: httpx.Client) -> None:
    """The shipped model, registered and made active, on a fresh service."""
    from vision.shipped import shipped_model_path

    model = shipped_model_path()
    if model is None or client.get("/api/v1/models").json():
        return
    made = client.post(
        "/api/v1/models",
        content=model.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    version = made.json()["version"]
    client.post(f"/api/v1/models/{version}/state", json={"state": "canary", "stations": ["ST1"]})
    client.post(f"/api/v1/models/{version}/state", json={"state": "active"})
    _say(f"registered the shipped model {version} and made it active")


def _sign_in(client: httpx.Client, password: str) -> None:
    token = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": password}
    ).json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"


def _report(client: httpx.Client, password: str) -> None:
    """Today's drop-offs for the whole district, in the service's days."""
    import httpx

    today = str(datetime.now(SERVICE_ZONE).date())
    try:
        answer = client.get(
            "/api/v1/stats/summary", params={"place": "D1", "start": today, "end": today}
        )
        if answer.status_code == 401:  # the admin session expired: a new one
            _sign_in(client, password)
            return
        t = answer.json().get("totals", {})
    except (httpx.HTTPError, ValueError) as exc:
        _say(f"cannot read the statistics now: {exc}")
        return
    _say(
        f"{t.get('dropoffs', 0)} drop-offs today, {t.get('contaminated', 0)} "
        f"flagged, accuracy {100 * (t.get('accuracy') or 0):.0f} %"
    )


def _watch(stations: list[Station], service: subprocess.Popen[bytes], work: Path) -> None:
    """15 s of the stations: each whose video ended moves on to its next one."""
    for _ in range(15):
        time.sleep(1)
        for station in stations:
            if moved := station.check():
                _say(moved)
        if service.poll() is not None:
            raise SystemExit(f"the service stopped (exit {service.returncode}); see {work}")


def _start_service(work: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (work / "service.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "binwatch", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )


def _stop(stations: list[Station], children: list[subprocess.Popen[bytes]]) -> None:
    for station in stations:
        station.stop()
    for child in reversed(children):
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


def run(args: argparse.Namespace) -> int:
    import httpx

    from binwatch.demo_stations import Station
    from edge.simulate import drawn_items, folder_items

    work = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not _free(args.port):
        raise SystemExit(f"port {args.port} is in use: pass --port")
    password = args.password or secrets.token_urlsafe(9)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env["BINWATCH_DATA_DIR"] = str(work / "service")
    url = f"http://127.0.0.1:{args.port}"
    children: list[subprocess.Popen[bytes]] = []
    stations: list[Station] = []

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        fresh = not (work / "service" / "binwatch.db").exists()
        _binwatch("db", "upgrade", env=env)
        if fresh:
            tokens = _seed(work, args.stations, password, env)
        else:
            saved = json.loads((work / "secrets.json").read_text())
            password, tokens = saved["password"], {int(k): v for k, v in saved["tokens"].items()}
            _say(f"reusing {work} (delete it for a fresh demo)")
        items = folder_items(args.images) if args.images else drawn_items()
        compose = _composer(work, items, args.stations, args.dropoffs)
        stations = [
            Station(n, work, url, tokens[n], KEY, compose, env) for n in range(1, args.stations + 1)
        ]
        for station in stations:
            if not station.files(station.segment)[1].exists():
                _say(f"composing a video of station {station.code} ({args.dropoffs} drop-offs)")
                station.compose(station.segment)
        service = _start_service(work, args.port, env)
        children.append(service)
        _wait(url, service)
        _say(f"service running at {url}")
        with httpx.Client(base_url=url, timeout=60) as client:
            _sign_in(client, password)
            _register_model(client)
            for station in stations:
                station.start()
            _say(f"{args.stations} stations running (logs in {work})")
            print(
                f"\n  dashboard  {url}/dashboard\n  review     {url}/review\n"
                f"  users      supervisor / office / engineer / admin, password: {password}\n"
                "  stop       Ctrl-C\n",
                flush=True,
            )
            if not args.no_browser:
                webbrowser.open(f"{url}/login?next=/dashboard")
            while True:
                _watch(stations, service, work)
                _report(client, password)
    except KeyboardInterrupt:
        _say("stopping")
    finally:
        _stop(stations, children)
    return 0
