"""`binwatch demo` from the installed package: within a minute of its stations starting, a
supervisor's browser shows drop-offs arriving on the dashboard (which refreshes itself), and a
station's video played to its end is followed by a new one with other photos."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.live import free_port
from tests.web.conftest import shot, sign_in

PASSWORD = "demo test password"


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert process.poll() is None, log.read_text(errors="replace")
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {seconds:.0f} s:\n{log.read_text()}")


def test_demo_shows_events_on_the_dashboard(browser: Any, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "binwatch", "demo", "--port", str(port), "--dir",
             str(tmp_path / "demo"), "--stations", "2", "--dropoffs", "5", "--no-browser",
             "--password", PASSWORD],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        _wait_for_line(log, "stations running", demo, 180)
        started = time.monotonic()
        url = f"http://127.0.0.1:{port}"
        page = sign_in(browser, url, "supervisor", PASSWORD)
        page.goto(f"{url}/dashboard?place=K1")
        page.wait_for_selector("body[data-ready='1']")
        # the page refreshes itself every 20 s; no reload here
        page.wait_for_function(
            "parseInt(document.getElementById('dropoffs').textContent) > 0", timeout=60_000
        )
        waited = time.monotonic() - started
        page.wait_for_selector("body[data-ready='1']")  # the refresh has drawn its charts
        shown = page.inner_text("#dropoffs")
        assert re.match(r"[1-9]\d* drop-offs, [1-9]\d* identified", shown), shown
        assert waited < 60, f"first drop-off shown after {waited:.0f} s"
        shot(page, "demo-dashboard")
        assert demo.poll() is None, "the demo stopped while running"
        # a station's video played to its end is followed by a new one, never a repeat
        _wait_for_line(log, "ST1: video 0 played, video 1 started", demo, 180)
        work = tmp_path / "demo"
        first, second = (json.loads((work / f"ST1-{k:03d}.json").read_text()) for k in (0, 1))
        assert first["dropoffs"] and second["dropoffs"] and first["dropoffs"] != second["dropoffs"]
        videos = [hashlib.sha256((work / f"ST1-{k:03d}.mp4").read_bytes()).digest() for k in (0, 1)]
        assert videos[0] != videos[1]
        assert (work / "ST1.segment").read_text() == "1"  # a demo run again continues here
    finally:
        demo.terminate()
        demo.wait(timeout=60)
    text = log.read_text()
    assert "[demo] stopping" in text, text
    assert demo.returncode == 0, text
