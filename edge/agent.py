"""`binwatch edge run CONFIG`: source → pipeline → outbox, with the uploader, the model updater,
the heartbeat and a small local HTTP endpoint (edge.localhttp: health, Prometheus metrics from
edge.metrics, and the lid and card signals of a smart bin) beside it. SIGTERM or SIGINT stops it
cleanly; a file source that ends lets the uploader drain the outbox first.

Unattended for months: a worker thread that dies is started again (edge.supervise); /health says
"uploads stalled" when events wait and nothing was acknowledged for `service.stall_after_s` (a
report, never an exit: an offline station must not restart-loop); when the disk is full and no
evidence is left to drop, capture pauses and resumes by itself; a recording (file, folder)
resumes after the last frame whose outcome is committed."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from edge import metrics
from edge.audit import AuditShare
from edge.config import EdgeConfig
from edge.feedback import Feedback
from edge.localhttp import LocalServer
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.privacy import blur_faces, encode_jpeg, pseudonym
from edge.sources import FrameSource, paced, recording_key
from edge.supervise import Supervised, stop_on_signals
from edge.updater import ModelStore, Updater, load_first
from edge.uploader import Uploader
from vision.classifier import Classifier, ClassifierOptions
from vision.taxonomy import load_profile

log = logging.getLogger(__name__)


@dataclass
class Health:
    started: float = field(default_factory=time.time)
    frames: int = 0
    decisions: int = 0
    frame_times: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    decide_ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    paused: bool = False  # capture waits for disk space
    pauses: int = 0

    def fps(self) -> float:
        if len(self.frame_times) < 2:
            return 0.0
        span = self.frame_times[-1] - self.frame_times[0]
        return (len(self.frame_times) - 1) / span if span > 0 else 0.0


class Agent:
    def __init__(self, config: EdgeConfig, transport: httpx.BaseTransport | None = None):
        self.config = config
        self.street_key = config.street_key()  # read once, at start: a missing file stops here
        self.stop = threading.Event()
        self.health = Health()
        storage = config.storage
        self.outbox = Outbox(
            storage.dir, int(storage.max_evidence_mb * 1e6), int(storage.min_free_mb * 1e6)
        )
        self.options = ClassifierOptions(threads=config.model.threads)
        self.profile = load_profile(config.profile)  # the one profile on this device
        self.store = ModelStore(storage.dir / "models")
        self.classifier: Classifier = load_first(
            self.store.candidates(config.model.path), self.options, self.profile
        )
        self.feedback = Feedback(config.feedback, self.profile)
        self.audit = AuditShare(config.evidence.audit_share, storage.dir / "service_config.json")
        self.pipeline = Pipeline(
            config, self.classifier, self.outbox, on_event=self.feedback, audit=self.audit
        )
        token = config.service.bearer()
        self.uploader = Uploader(
            self.outbox,
            config.device_id,
            config.service.url,
            token,
            batch_size=config.service.batch_size,
            timeout=config.service.timeout_s,
            interval=config.service.interval_s,
            backoff_max=config.service.backoff_max_s,
            transport=transport,
        )
        self._client = httpx.Client(
            base_url=config.service.url.rstrip("/"),
            transport=transport,
            timeout=config.service.timeout_s * 6,
            headers={"Authorization": f"Bearer {token}"},
        )
        self.updater = Updater(
            self._client,
            self.store,
            self.options,
            self.profile,
            audit=self.audit,
            models=config.model.update,
            snapshot=self.snapshot,
        )
        self._latest: Any = None  # the last frame read, for a snapshot the service asks for
        self._server: LocalServer | None = None
        self._workers: list[Supervised] = []
        self._registry = metrics.registry(self.health_report)

    # health and metrics ------------------------------------------------------------------

    def health_report(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        disk = shutil.disk_usage(self.config.storage.dir)
        with self.uploader.status.lock:
            last = self.uploader.status.last_success
            upload = {
                "last_success": last,
                "last_error": self.uploader.status.last_error,
                "failures": self.uploader.status.failures,
                "set_aside": self.uploader.status.set_aside,
            }
        waited = time.time() - (last or self.health.started)
        upload["stalled"] = stats.pending_events > 0 and waited > self.config.service.stall_after_s
        cards = self.pipeline.cards.counts
        problems = [
            *(["uploads stalled"] if upload["stalled"] else []),
            *(["capture paused: disk full"] if self.health.paused else []),
        ]
        return {
            "status": "; ".join(problems) or "ok",
            "device_id": self.config.device_id,
            "profile": self.profile.name,
            "uptime_s": time.time() - self.health.started,
            "fps": self.health.fps(),
            "frames": self.health.frames,
            "decisions": self.health.decisions,
            "background_crops": self.pipeline.background_crops,
            "model_version": self.pipeline.classifier.metadata.model_version,
            "queue": stats.pending_events,
            "sent": stats.sent_events,
            "rejected": stats.rejected_events,
            "evidence_pending": stats.pending_evidence,
            "evidence_dropped": stats.dropped_evidence,
            "disk_free_mb": disk.free / 1e6,
            "upload": upload,
            "cards": {"swipes": cards.swipes, "bound": cards.bound, "unbound": cards.unbound},
            "audit_share": {"share": self.audit.share, "from": self.audit.source},
            "capture": {"paused": self.health.paused, "pauses": self.health.pauses},
            "restarts": sum(w.restarts for w in self._workers),
        }

    def metrics_text(self) -> str:
        return metrics.text(self._registry)

    def _serve_http(self) -> None:
        m = self.config.metrics
        if m.port == 0:
            return
        self._server = LocalServer(
            m.host, m.port, self.health_report, self.metrics_text, self.signal
        )
        self._server.start()

    def signal(self, body: dict[str, Any]) -> None:
        """`{"card": "<raw card id>"}` (hashed here, never stored) and/or
        `{"bin": "B1", "lid": "open" | "closed"}`. A swipe goes to one drop-off: the bin whose
        lid opens next, or where the next change starts (see edge.cards)."""
        if "card" in body:
            self.pipeline.card(pseudonym(str(body["card"]), self.street_key))
        if "lid" in body:
            if body["lid"] not in ("open", "closed"):
                raise ValueError("lid is 'open' or 'closed'")
            if body.get("bin") not in {b.id for b in self.config.bins}:
                raise KeyError(f"unknown bin {body.get('bin')!r}")
            self.pipeline.lid(str(body["bin"]), body["lid"] == "open")

    # running -----------------------------------------------------------------------------

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        worker = Supervised(name, target, *args)
        worker.start()
        self._workers.append(worker)

    def _heartbeat(self) -> None:
        beat = time.monotonic()
        while not self.stop.wait(min(5.0, self.config.metrics.heartbeat_s)):
            for worker in self._workers:
                worker.check(self.stop.is_set())
            if time.monotonic() - beat >= self.config.metrics.heartbeat_s:
                beat = time.monotonic()
                log.info("heartbeat %s", json.dumps(self.health_report()))

    def _wait_for_room(self) -> None:
        """Hold capture while the disk is full and no evidence is left to drop."""
        while not self.stop.is_set() and not self.outbox.room():
            if not self.health.paused:
                self.health.paused, self.health.pauses = True, self.health.pauses + 1
                log.error(
                    "disk full (under storage.min_free_mb with no evidence left to drop): "
                    "capture paused until space is free"
                )
            self.stop.wait(5.0)
        if self.health.paused:
            self.health.paused = False
            log.warning("disk space is back: capture resumes")

    def run(
        self, drain_timeout: float = 60.0, replay: list[tuple[int, dict[str, Any]]] | None = None
    ) -> int:
        """Run until the source ends or a stop signal. `replay`: (frame index, signal body)
        pairs applied when that frame arrives (card swipes recorded with a simulation)."""
        pending = sorted(replay or [], key=lambda pair: pair[0])
        stop_on_signals(self.stop)
        uploads_stop = threading.Event()
        self._serve_http()
        self._spawn("uploader", self.uploader.run, uploads_stop)
        # the service's config (audit share) always; models when `model.update`
        self._spawn(
            "updater",
            self.updater.run,
            self.stop,
            self.config.model.check_interval_s,
            self.classifier,
            self.pipeline.swap_model,
        )
        heartbeat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        heartbeat.start()
        recording = recording_key(self.config.source)
        start = self.outbox.position(recording) if recording else 0
        if start:
            log.info("resuming %s after frame %d", self.config.source.uri, start)
        source = FrameSource(self.config.source, self.stop, start=start)
        try:
            for index, frame in paced(source.frames(), self.config.source.fps):
                if self.stop.is_set():
                    break
                while pending and pending[0][0] <= index:
                    self.signal(pending.pop(0)[1])
                self._wait_for_room()
                self._step(index, frame, recording)
        finally:
            deadline = time.monotonic() + drain_timeout
            while not self.stop.is_set() and time.monotonic() < deadline:
                left = self.outbox.stats()
                if not left.pending_events and not self.outbox.evidence_ready(1):
                    break
                time.sleep(0.2)
            self.stop.set()
            uploads_stop.set()
            if self._server is not None:
                self._server.stop()
            for worker in self._workers:
                worker.join(timeout=10)
            heartbeat.join(timeout=10)
            report = self.health_report()
            self.close()
            log.info("stopped: %s", json.dumps(report))
        return 0

    def snapshot(self) -> bytes | None:
        """The latest frame as a JPEG, faces blurred (the station set-up page asked for it)."""
        frame = self._latest
        if frame is None:
            return None
        image, _ = blur_faces(frame)
        return encode_jpeg(image, 90)

    def _step(self, index: int, frame: Any, recording: str | None) -> None:
        started = time.perf_counter()
        self._latest = frame
        self.pipeline.position = (recording, index) if recording else None
        try:
            decisions = self.pipeline.process(frame)
        except (sqlite3.OperationalError, OSError) as exc:  # the outbox could not write
            log.error("frame %d not recorded (%s); waiting for disk space", index, exc)
            self.health.paused, self.health.pauses = True, self.health.pauses + 1
            self.stop.wait(5.0)
            return
        self.health.frames += 1
        self.health.frame_times.append(time.monotonic())
        for decision in decisions:
            self.health.decisions += 1
            self.health.decide_ms.append(1000 * decision.seconds)
        if recording and not decisions and self.pipeline.idle and index % 25 == 0:
            self.outbox.save_position(recording, index)  # between drop-offs: resume from here
        if decisions:
            log.debug("frame took %.1f ms", 1000 * (time.perf_counter() - started))

    def close(self) -> None:
        """Release the clients, the feedback worker and the outbox (after `run`, or instead)."""
        self.uploader.close()
        self.feedback.close()
        self._client.close()
        self.outbox.close()
