"""The service's Prometheus metrics, one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "binwatch_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "binwatch_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.events = Counter(
            "binwatch_events", "ingested events by outcome", ["status"], registry=self.registry
        )
        self.drifting = Gauge(
            "binwatch_station_drifting",
            "1 when a station's model confidence or predicted categories moved (see api/drift.py)",
            ["station"],
            registry=self.registry,
        )
        self.drift_psi = Gauge(
            "binwatch_station_drift_psi",
            "population stability index, last days against the weeks before, by measure",
            ["station", "measure"],
            registry=self.registry,
        )
        self.evidence = Counter(
            "binwatch_evidence_uploads",
            "evidence uploads by outcome",
            ["status"],
            registry=self.registry,
        )
