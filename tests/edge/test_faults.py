"""Faults: the service down for half a run, the agent killed mid-write 20 times, corrupt frames
and ending streams, a model download whose hash is wrong."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.agent import Agent
from edge.config import EdgeConfig, SourceConfig
from edge.outbox import Outbox
from edge.sources import FrameSource
from edge.updater import MAX_MISMATCHES, ModelStore, Updater
from tests.edge.conftest import Service, agent_config, prepare_service
from vision.classifier import Classifier, ClassifierOptions
from vision.shipped import shipped_model_path


def test_service_down_for_the_first_half(station_video: Path, tmp_path: Path) -> None:
    truth = json.loads((station_video / "truth.json").read_text())
    service = prepare_service(tmp_path)  # prepared, not started
    config = EdgeConfig.model_validate(
        agent_config(
            tmp_path,
            service.url,
            service.device_token,
            station_video / "station.mp4",
            truth,
            source={"fps": 100},
        )
    )
    agent = Agent(config)
    half = truth["frames"] // 2
    failures_before_start: list[int] = []

    def start_later() -> None:
        while agent.health.frames < half:
            time.sleep(0.05)
        failures_before_start.append(agent.uploader.status.failures)
        service.start()

    starter = threading.Thread(target=start_later)
    starter.start()
    try:
        agent.run(drain_timeout=60)
        starter.join()
        assert failures_before_start and failures_before_start[0] > 0  # it really was down
        made = Outbox(config.storage.dir, 10**9).stats()
        assert made.pending_events == 0 and made.sent_events >= len(truth["dropoffs"]) - 1
        with service.admin() as admin:
            events = admin.get("/metrics").text
        stored = [
            line
            for line in events.splitlines()
            if line.startswith('binwatch_events_total{status="stored"}')
        ]
        assert stored and float(stored[0].split()[-1]) == made.sent_events  # each once
    finally:
        service.stop()


WRITER = """
import sys, time, uuid
from datetime import UTC, datetime
from pathlib import Path
from edge.outbox import Outbox
from vision.events import DropoffEvent
box = Outbox(Path(sys.argv[1]), 10**9)
n = 0
while True:
    event = DropoffEvent.model_validate({
        "event_id": str(uuid.uuid4()), "device_id": "cam-sim", "station_id": "SIM",
        "bin_id": "SIM-K", "bin_category": "kitchen", "profile": "national",
        "captured_at": datetime.now(UTC).isoformat(), "model_version": "x-1",
        "items": [{"label": "food_waste", "category": "kitchen", "confidence": 0.9}],
        "verdict": "correct", "score": 0.9})
    box.add(event, b"\\xff\\xd8" + bytes(2000) if n % 3 == 0 else None)
    print(event.event_id, flush=True)
    n += 1
"""


def test_killed_twenty_times_loses_nothing_and_stores_once(
    tmp_path: Path, service: Service
) -> None:
    box_dir = tmp_path / "box"
    committed: set[str] = set()
    rng = np.random.default_rng(0)
    for _ in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(box_dir)], stdout=subprocess.PIPE, text=True
        )
        time.sleep(0.4 + float(rng.random()) * 0.4)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        committed |= set(out.split())
        # between kills, the uploader sends part of the outbox
        box = Outbox(box_dir, 10**9)
        from edge.uploader import Uploader

        uploader = Uploader(box, "cam-sim", service.url, service.device_token, batch_size=50)
        uploader.send_once()
        uploader.close()
        box.close()
    assert len(committed) > 100
    with sqlite3.connect(box_dir / "outbox.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT event_id FROM events")}
    assert committed <= stored  # every event the writer saw committed survived the kills
    box = Outbox(box_dir, 10**9)
    from edge.uploader import Uploader

    uploader = Uploader(box, "cam-sim", service.url, service.device_token, batch_size=500)
    while box.stats().pending_events:
        uploader.send_once()
    uploader.close()
    assert box.stats().sent_events == len(stored)
    with service.admin() as admin:
        metrics = admin.get("/metrics").text
    line = next(
        x for x in metrics.splitlines() if x.startswith('binwatch_events_total{status="stored"}')
    )
    assert float(line.split()[-1]) == len(stored)  # stored once each at the service


def test_corrupt_frames_are_skipped_and_ended_streams_reconnect(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.full((64, 64, 3), 40 * i, np.uint8))
    (folder / "2.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    source = FrameSource(SourceConfig(kind="folder", uri=str(folder)))
    got = [index for index, _ in source.frames()]
    assert got == [1, 2, 3] and source.skipped == 1
    stop = threading.Event()
    stream = FrameSource(
        SourceConfig(kind="stream", uri=str(tmp_path / "gone.mp4"), reconnect_max_s=0.2), stop
    )
    threading.Timer(1.5, stop.set).start()
    assert list(stream.frames()) == []  # tried again and again, then stopped cleanly


def test_model_with_a_bad_hash_is_refused(tmp_path: Path, service: Service) -> None:
    model = shipped_model_path()
    assert model is not None
    with service.admin() as admin:
        made = admin.post(
            "/api/v1/models",
            content=model.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        ).json()
        admin.post(
            f"/api/v1/models/{made['version']}/state", json={"state": "canary", "stations": ["SIM"]}
        )
    stored = service.settings.data_dir / "models" / f"{made['sha256']}.onnx"
    stored.write_bytes(stored.read_bytes()[:-10] + b"tampered!!")  # corrupted at the service
    import httpx

    client = httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {service.device_token}"}
    )
    updater = Updater(client, ModelStore(tmp_path / "models"), ClassifierOptions())
    running = Classifier(model)
    assert updater.check(running_sha="0" * 64) is None  # refused, and tried again later
    assert made["sha256"] not in updater.refused
    for _ in range(MAX_MISMATCHES - 1):
        assert updater.check(running_sha="0" * 64) is None
    assert made["sha256"] in updater.refused  # for good after three bad downloads
    assert not (tmp_path / "models" / f"{made['sha256']}.onnx").exists()
    assert running.metadata.model_version == made["version"]  # the old one keeps running
    client.close()


@pytest.mark.parametrize("broken", ["garbage", "no-metadata"])
def test_agent_falls_back_when_the_current_model_does_not_load(tmp_path: Path, broken: str) -> None:
    store = ModelStore(tmp_path / "models")
    bad = store.directory / "bad.onnx"
    bad.write_bytes(b"garbage" if broken == "garbage" else b"\x08\x07")
    store.promote(bad)
    from edge.updater import load_first

    chosen = load_first(store.candidates(None), ClassifierOptions())
    assert chosen.path == shipped_model_path()
