"""`binwatch edge run CONFIG`: source → pipeline → outbox, with the uploader, the model updater,
the heartbeat and a small local HTTP endpoint (Prometheus metrics, health, and the lid and card
signals of a smart bin) beside it. SIGTERM or SIGINT stops it cleanly; a file source that ends
lets the uploader drain the outbox first."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from edge.audit import AuditShare
from edge.config import EdgeConfig
from edge.feedback import Feedback
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.privacy import pseudonym
from edge.sources import FrameSource, paced
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

    def fps(self) -> float:
        if len(self.frame_times) < 2:
            return 0.0
        span = self.frame_times[-1] - self.frame_times[0]
        return (len(self.frame_times) - 1) / span if span > 0 else 0.0


class Agent:
    def __init__(self, config: EdgeConfig, transport: httpx.BaseTransport | None = None):
        self.config = config
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
        )
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # health and metrics ------------------------------------------------------------------

    def health_report(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        disk = shutil.disk_usage(self.config.storage.dir)
        with self.uploader.status.lock:
            upload = {
                "last_success": self.uploader.status.last_success,
                "last_error": self.uploader.status.last_error,
                "failures": self.uploader.status.failures,
            }
        cards = self.pipeline.cards.counts
        return {
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
        }

    def metrics_text(self) -> str:
        h = self.health_report()
        lines = []
        for name, value, kind, text in (
            ("binwatch_edge_frames_total", h["frames"], "counter", "frames processed"),
            ("binwatch_edge_dropoffs_total", h["decisions"], "counter", "drop-offs decided"),
            (
                "binwatch_edge_background_crops_total",
                h["background_crops"],
                "counter",
                "crops the model read as no item, dropped from events",
            ),
            ("binwatch_edge_fps", h["fps"], "gauge", "frames per second"),
            ("binwatch_edge_queue_events", h["queue"], "gauge", "events not yet acknowledged"),
            ("binwatch_edge_sent_events_total", h["sent"], "counter", "events acknowledged"),
            (
                "binwatch_edge_evidence_dropped_total",
                h["evidence_dropped"],
                "counter",
                "evidence images dropped for space",
            ),
            ("binwatch_edge_card_swipes_total", h["cards"]["swipes"], "counter", "card swipes"),
            (
                "binwatch_edge_cards_unbound_total",
                h["cards"]["unbound"],
                "counter",
                "card swipes dropped: expired or replaced before a drop-off",
            ),
            (
                "binwatch_edge_upload_failures_total",
                h["upload"]["failures"],
                "counter",
                "failed upload rounds",
            ),
            ("binwatch_edge_disk_free_bytes", h["disk_free_mb"] * 1e6, "gauge", "free disk"),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        version = h["model_version"].replace('"', "")
        lines += [
            "# HELP binwatch_edge_model model running",
            "# TYPE binwatch_edge_model gauge",
            f'binwatch_edge_model{{version="{version}"}} 1',
        ]
        return "\n".join(lines) + "\n"

    def _serve_http(self) -> None:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

            def _reply(self, code: int, body: str, kind: str = "application/json") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, agent.metrics_text(), "text/plain; version=0.0.4")
                elif self.path == "/health":
                    self._reply(200, json.dumps(agent.health_report()))
                else:
                    self._reply(404, '{"detail": "not found"}')

            def do_POST(self) -> None:
                if self.path != "/signal":
                    self._reply(404, '{"detail": "not found"}')
                    return
                try:
                    length = min(int(self.headers.get("Content-Length", "0")), 10_000)
                    body = json.loads(self.rfile.read(length) or b"{}")
                    agent.signal(body)
                except (ValueError, KeyError, TypeError) as exc:
                    self._reply(422, json.dumps({"detail": str(exc)}))
                    return
                self._reply(200, '{"ok": true}')

        m = self.config.metrics
        if m.port == 0:
            return
        self._server = ThreadingHTTPServer((m.host, m.port), Handler)
        self._spawn("http", self._server.serve_forever)

    def signal(self, body: dict[str, Any]) -> None:
        """`{"card": "<raw card id>"}` (hashed here, never stored) and/or
        `{"bin": "B1", "lid": "open" | "closed"}`. A swipe goes to one drop-off: the bin whose
        lid opens next, or where the next change starts (see edge.cards)."""
        if "card" in body:
            self.pipeline.card(pseudonym(str(body["card"]), self.config.pseudonym_key))
        if "lid" in body:
            if body["lid"] not in ("open", "closed"):
                raise ValueError("lid is 'open' or 'closed'")
            if body.get("bin") not in {b.id for b in self.config.bins}:
                raise KeyError(f"unknown bin {body.get('bin')!r}")
            self.pipeline.lid(str(body["bin"]), body["lid"] == "open")

    # running -----------------------------------------------------------------------------

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _heartbeat(self) -> None:
        while not self.stop.wait(self.config.metrics.heartbeat_s):
            log.info("heartbeat %s", json.dumps(self.health_report()))

    def run(
        self, drain_timeout: float = 60.0, replay: list[tuple[int, dict[str, Any]]] | None = None
    ) -> int:
        """Run until the source ends or a stop signal. `replay`: (frame index, signal body)
        pairs applied when that frame arrives (card swipes recorded with a simulation)."""
        pending = sorted(replay or [], key=lambda pair: pair[0])
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread (tests)
                signal.signal(sig, lambda *_: self.stop.set())
        uploads_stop = threading.Event()
        self._serve_http()
        self._spawn("uploader", self.uploader.run, uploads_stop)
        self._spawn("heartbeat", self._heartbeat)
        # the service's config (audit share) always; models when `model.update`
        self._spawn(
            "updater",
            self.updater.run,
            self.stop,
            self.config.model.check_interval_s,
            self.classifier,
            self.pipeline.swap_model,
        )
        source = FrameSource(self.config.source, self.stop)
        try:
            for index, frame in paced(source.frames(), self.config.source.fps):
                if self.stop.is_set():
                    break
                while pending and pending[0][0] <= index:
                    self.signal(pending.pop(0)[1])
                started = time.perf_counter()
                decisions = self.pipeline.process(frame)
                self.health.frames += 1
                self.health.frame_times.append(time.monotonic())
                for decision in decisions:
                    self.health.decisions += 1
                    self.health.decide_ms.append(1000 * decision.seconds)
                if decisions:
                    log.debug("frame took %.1f ms", 1000 * (time.perf_counter() - started))
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
                self._server.shutdown()
            for thread in self._threads:
                thread.join(timeout=10)
            report = self.health_report()
            self.close()
            log.info("stopped: %s", json.dumps(report))
        return 0

    def close(self) -> None:
        """Release the clients, the feedback worker and the outbox (after `run`, or instead)."""
        self.uploader.close()
        self.feedback.close()
        self._client.close()
        self.outbox.close()
