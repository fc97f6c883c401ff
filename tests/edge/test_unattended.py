"""An edge that keeps itself alive: the uploader outlives any exception, a batch refused as a
whole is split to find the refused events, model downloads that fail are tried again, the outbox
finds its images under a respelled storage path, recordings resume where they stopped, a dead
worker thread is started again, /health says when uploads stall."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from edge.config import SourceConfig
from edge.outbox import Outbox
from edge.sources import FrameSource, recording_key
from edge.supervise import Supervised
from edge.updater import ModelStore, Updater
from edge.uploader import Uploader
from tests.edge.test_units import event
from vision.classifier import ClassifierOptions


def service(refuse: set[str] | None = None, everything: bool = False) -> httpx.MockTransport:
    """A service that stores every event, but answers 422 to a whole batch holding a refused
    one (or to every batch)."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        ids = [e["event_id"] for e in body["events"]]
        if everything or (refuse and refuse & set(ids)):
            return httpx.Response(422, json={"detail": "events.0.items: bad"})
        results = [{"event_id": i, "status": "stored", "error": None} for i in ids]
        return httpx.Response(
            200, json={"received_at": datetime.now(UTC).isoformat(), "results": results}
        )

    return httpx.MockTransport(handle)


def test_a_batch_refused_as_a_whole_sets_aside_only_the_refused_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10**9)
    events = [event() for _ in range(9)]
    poison = str(events[4].event_id)
    for made in events:
        box.add(made)
    uploader = Uploader(box, "cam-1", "http://svc", "t", transport=service({poison}))
    assert uploader.send_once() == 9
    stats = box.stats()
    assert (stats.pending_events, stats.sent_events, stats.rejected_events) == (0, 8, 1)
    [(dead_id, _, reason)] = box.dead()
    assert dead_id == poison and reason is not None and "422" in reason
    assert uploader.status.set_aside == 1
    assert box.retry_dead() == 1 and box.stats().pending_events == 1
    uploader.close()
    box.close()


def test_a_service_refusing_everything_sets_nothing_aside(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10**9)
    for _ in range(4):
        box.add(event())
    uploader = Uploader(box, "cam-1", "http://svc", "t", transport=service(everything=True))
    with pytest.raises(httpx.TransportError, match="refused all 4"):
        uploader.send_once()
    assert box.stats().pending_events == 4 and not box.dead()
    uploader.close()
    box.close()


class FlakyOutbox(Outbox):
    """An outbox whose disk is full for the first reads."""

    failures = 3

    def pending(self, limit: int) -> Any:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return super().pending(limit)


def test_the_uploader_outlives_any_exception(tmp_path: Path) -> None:
    box = FlakyOutbox(tmp_path, 10**9)
    box.add(event())
    uploader = Uploader(
        box, "cam-1", "http://svc", "t", interval=0.01, backoff_max=0.05, transport=service()
    )
    stop = threading.Event()
    thread = threading.Thread(target=uploader.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while box.stats().sent_events < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert box.stats().sent_events == 1
    assert uploader.status.failures == 3 and "OperationalError" in str(uploader.status.last_error)
    uploader.close()
    box.close()


def test_a_dead_worker_thread_is_started_again() -> None:
    runs: list[int] = []

    def work() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug")

    worker = Supervised("work", work)
    worker.start()
    worker.join(timeout=5)
    assert worker.check(stopping=False) and worker.restarts == 1
    worker.join(timeout=5)
    assert len(runs) == 2
    assert not worker.check(stopping=True)


def test_a_failed_model_download_is_tried_again(tmp_path: Path, tiny_model: Path) -> None:
    data = tiny_model.read_bytes()
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    answers = iter([503, 200])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/device/config":
            model = {"version": "tiny-1", "sha256": sha, "url": f"/api/v1/models/files/{sha}"}
            return httpx.Response(200, json={"audit_share": 0.05, "model": model})
        return httpx.Response(next(answers), content=data)

    client = httpx.Client(base_url="http://svc", transport=httpx.MockTransport(handle))
    updater = Updater(client, ModelStore(tmp_path / "models"), ClassifierOptions())
    assert updater.check(running_sha=None) is None and sha not in updater.refused
    made = updater.check(running_sha=None)
    assert made is not None and (tmp_path / "models" / f"{sha}.onnx").is_file()
    client.close()


def test_pending_evidence_survives_a_respelled_storage_path(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    box = Outbox(tmp_path / "store", 10**9)
    made = event()
    box.add(made, b"\xff\xd8" + bytes(100))
    box.close()
    (tmp_path / "link").symlink_to(tmp_path / "store")
    for spelling in (tmp_path / "store" / "." / "", tmp_path / "link"):
        again = Outbox(spelling, 10**9)
        assert again.stats().pending_evidence == 1
        again.close()
    assert (tmp_path / "store" / "evidence" / f"{made.event_id}.jpg").is_file()


def test_a_recording_resumes_after_the_committed_frame(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((32, 32, 3), i * 20, np.uint8))
    config = SourceConfig(kind="folder", uri=str(folder))
    key = recording_key(config)
    assert key is not None and recording_key(SourceConfig(kind="camera", uri="0")) is None
    box = Outbox(tmp_path / "box", 10**9)
    assert box.position(key) == 0
    box.add(event(), None, (key, 6))  # the event and the position commit together
    box.close()
    start = Outbox(tmp_path / "box", 10**9).position(key)
    frames = list(FrameSource(config, start=start).frames())
    assert [i for i, _ in frames] == [7, 8, 9, 10]
    assert int(frames[0][1][0, 0, 0]) == 6 * 20  # the seventh image, not the first


def test_health_reports_stalled_uploads_and_a_paused_capture(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge.agent import Agent
    from edge.config import EdgeConfig
    from tests.edge.station import edge_config

    config = EdgeConfig.model_validate(
        edge_config(
            tmp_path, "national", (("B1", "kitchen"),), tiny_model, service={"stall_after_s": 1}
        )
    )
    agent = Agent(config)
    try:
        assert agent.health_report()["status"] == "ok"  # nothing waits
        agent.outbox.add(event())
        agent.health.started -= 5  # queued, and nothing acknowledged for 5 s
        report = agent.health_report()
        assert report["status"] == "uploads stalled" and report["upload"]["stalled"]
        assert "binwatch_edge_uploads_stalled 1.0" in agent.metrics_text().splitlines()
        # the disk is full and no evidence is left to drop: capture waits, then resumes
        free = [0]
        monkeypatch.setattr(agent.outbox, "room", lambda: free[0] > 0)
        monkeypatch.setattr(agent.stop, "wait", lambda seconds: free.__setitem__(0, 1) or False)
        agent._wait_for_room()
        assert agent.health.pauses == 1 and not agent.health.paused
        assert "binwatch_edge_capture_pauses_total 1.0" in agent.metrics_text().splitlines()
    finally:
        agent.close()


def test_an_unreadable_outbox_row_is_set_aside_not_blocking(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10**9)
    box.add(event())
    with box._transaction() as db:
        db.execute("INSERT INTO events (event_id, body, created) VALUES ('x', '{\"no\": 1}', 0)")
    box.add(event())
    assert len(box.pending(10)) == 2
    [(dead_id, _, reason)] = box.dead()
    assert dead_id == "x" and reason is not None and reason.startswith("unreadable")
    box.close()


def test_a_snapshot_goes_up_when_the_config_poll_asks(tmp_path: Path) -> None:
    """The station set-up page asks through the config poll (the service cannot reach devices);
    the device sends its latest frame then, and only then; a refusal or no frame yet is logged,
    not raised."""
    wanted = iter([False, True, True, True])
    sent: list[bytes] = []
    answer = iter([200, 500])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/device/config":
            return httpx.Response(
                200, json={"audit_share": 0.05, "model": None, "snapshot_wanted": next(wanted)}
            )
        assert request.url.path == "/api/v1/device/snapshot" and request.method == "PUT"
        sent.append(request.content)
        return httpx.Response(next(answer), json={})

    client = httpx.Client(base_url="http://svc", transport=httpx.MockTransport(handle))
    frames: list[bytes | None] = [b"jpeg-1", b"jpeg-2", None]
    updater = Updater(
        client, ModelStore(tmp_path / "models"), ClassifierOptions(), snapshot=lambda: frames[0]
    )
    updater.poll()  # not wanted: nothing sent
    assert sent == []
    updater.poll()
    assert sent == [b"jpeg-1"]
    frames.pop(0)
    updater.poll()  # refused (500): logged, polled again later
    assert sent == [b"jpeg-1", b"jpeg-2"]
    frames.pop(0)
    updater.poll()  # no frame read yet: nothing to send
    assert len(sent) == 2
    client.close()
