"""The agent's Prometheus metrics, written by `prometheus-client` from the agent's health report
(one source for /health and /metrics; label values escaped by the library)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

Report = Callable[[], dict[str, Any]]
Read = Callable[[dict[str, Any]], float]

COUNTERS: tuple[tuple[str, str, Read], ...] = (  # name (no _total), help, the report's value
    ("binwatch_edge_frames", "frames processed", lambda h: h["frames"]),
    ("binwatch_edge_dropoffs", "drop-offs decided", lambda h: h["decisions"]),
    (
        "binwatch_edge_background_crops",
        "crops the model read as no item, dropped from events",
        lambda h: h["background_crops"],
    ),
    ("binwatch_edge_sent_events", "events acknowledged", lambda h: h["sent"]),
    (
        "binwatch_edge_rejected_events",
        "events the service refused, set aside with its reason (binwatch edge outbox --dead)",
        lambda h: h["rejected"],
    ),
    (
        "binwatch_edge_evidence_dropped",
        "evidence images dropped for space",
        lambda h: h["evidence_dropped"],
    ),
    ("binwatch_edge_card_swipes", "card swipes", lambda h: h["cards"]["swipes"]),
    (
        "binwatch_edge_cards_unbound",
        "card swipes dropped: expired or replaced before a drop-off",
        lambda h: h["cards"]["unbound"],
    ),
    ("binwatch_edge_upload_failures", "failed upload rounds", lambda h: h["upload"]["failures"]),
    (
        "binwatch_edge_thread_restarts",
        "worker threads (uploader, updater) restarted after they died",
        lambda h: h["restarts"],
    ),
    (
        "binwatch_edge_capture_pauses",
        "times capture paused because the disk was full with no evidence left to drop",
        lambda h: h["capture"]["pauses"],
    ),
)
GAUGES: tuple[tuple[str, str, Read], ...] = (
    ("binwatch_edge_fps", "frames per second", lambda h: h["fps"]),
    ("binwatch_edge_queue_events", "events not yet acknowledged", lambda h: h["queue"]),
    ("binwatch_edge_disk_free_bytes", "free disk", lambda h: h["disk_free_mb"] * 1e6),
    (
        "binwatch_edge_uploads_stalled",
        "1 when events are queued and no upload succeeded for service.stall_after_s",
        lambda h: 1.0 if h["upload"]["stalled"] else 0.0,
    ),
    (
        "binwatch_edge_capture_paused",
        "1 while capture waits for disk space",
        lambda h: 1.0 if h["capture"]["paused"] else 0.0,
    ),
)


class AgentCollector(Collector):
    def __init__(self, report: Report) -> None:
        self.report = report

    def collect(self) -> Iterator[Metric]:
        h = self.report()
        for name, text, value in COUNTERS:
            yield CounterMetricFamily(name, text, value=float(value(h)))
        for name, text, value in GAUGES:
            yield GaugeMetricFamily(name, text, value=float(value(h)))
        model = GaugeMetricFamily("binwatch_edge_model", "model running", labels=["version"])
        model.add_metric([str(h["model_version"])], 1.0)
        yield model


def registry(report: Report) -> CollectorRegistry:
    made = CollectorRegistry(auto_describe=False)
    made.register(AgentCollector(report))
    return made


def text(made: CollectorRegistry) -> str:
    return generate_latest(made).decode()
