"""The demo's stations: each plays freshly composed videos one after another ("segments"), so
no drop-off, and no photo of one, comes round again in the review queue or on the dashboard.

While a segment plays, the next one is composed in a background thread. An edge agent reaching
the end of a segment's video drains its uploads and exits 0; the station then starts an agent on
the next segment. The segment each station is on is kept in the working folder, so a demo run
again continues there (the agent itself resumes inside the video after its last committed
frame).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# (video, truth, seed, station code): writes both, the truth last
Compose = Callable[[Path, Path, int, str], Any]


class Station:
    """Station `n` of the demo: its segments, its config file and its edge agent process."""

    def __init__(
        self,
        n: int,
        work: Path,
        url: str,
        token: str,
        key: str,
        compose: Compose,
        env: dict[str, str],
    ):
        self.n, self.work, self.url, self.token, self.key = n, work, url, token, key
        self.code = f"ST{n}"
        self._compose, self._env = compose, env
        self._state = work / f"{self.code}.segment"
        self.segment = int(self._state.read_text()) if self._state.exists() else 0
        self.process: subprocess.Popen[bytes] | None = None
        self._next: threading.Thread | None = None
        self._next_error: BaseException | None = None

    def files(self, segment: int) -> tuple[Path, Path]:
        stem = self.work / f"{self.code}-{segment:03d}"
        return stem.with_suffix(".mp4"), stem.with_suffix(".json")

    def seed(self, segment: int) -> int:
        return self.n * 100_003 + segment

    def compose(self, segment: int) -> None:
        """Compose the segment unless it is there (its truth file is written last)."""
        video, truth = self.files(segment)
        if not truth.exists():
            self._compose(video, truth, self.seed(segment), self.code)

    def _compose_next(self, segment: int) -> None:
        try:
            self.compose(segment)
        except BaseException as exc:  # reported when the segment is due
            self._next_error = exc

    def config(self) -> Path:
        import json

        import yaml

        video, truth_path = self.files(self.segment)
        truth = json.loads(truth_path.read_text())
        config = {
            "device_id": f"cam-{self.code}",
            "station_id": self.code,
            "pseudonym_key": self.key,
            "service": {"url": self.url, "token": self.token, "interval_s": 1.0},
            "bins": [
                {"id": b["id"], "category": b["category"], "roi": b["roi"]} for b in truth["bins"]
            ],
            "source": {"kind": "file", "uri": str(video), "fps": 10},
            "storage": {"dir": str(self.work / f"edge-{self.code}")},
            "model": {"update": True, "check_interval_s": 30, "threads": 1},
            "evidence": {"audit_share": 0.1},
            "metrics": {"port": 0, "heartbeat_s": 60},
        }
        path = self.work / f"{self.code}.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        return path

    def start(self) -> None:
        """Start the agent on the current segment and compose the next one meanwhile."""
        if self._next is not None:
            self._next.join()
            self._next = None
            if self._next_error is not None:
                raise SystemExit(f"cannot compose {self.code}'s next video: {self._next_error}")
        self.compose(self.segment)
        self._state.write_text(str(self.segment))
        config = self.config()
        _, truth = self.files(self.segment)
        output = (self.work / f"edge-{self.code}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "binwatch", "edge", "run", str(config), "--replay",
             str(truth), "--drain-timeout", "20", "--log-level", "info"],
            env=self._env, stdout=output, stderr=output,
        )  # fmt: skip
        output.close()
        self._next = threading.Thread(
            target=self._compose_next, args=(self.segment + 1,), name=f"compose-{self.code}"
        )
        self._next.start()

    def check(self) -> str | None:
        """Move on to the next segment when the agent has finished this one; a message when it
        did. An agent that failed stops the demo (SystemExit naming its log)."""
        if self.process is None or self.process.poll() is None:
            return None
        if self.process.returncode != 0:
            raise SystemExit(
                f"the edge agent of {self.code} stopped (exit {self.process.returncode}); "
                f"see {self.work / f'edge-{self.code}.log'}"
            )
        done = self.segment
        self.segment += 1
        self.start()
        return f"{self.code}: video {done} played, video {self.segment} started (new drop-offs)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._next is not None:
            self._next.join()
