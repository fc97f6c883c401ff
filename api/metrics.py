"""The service's Prometheus metrics, one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
        self.evidence = Counter(
            "binwatch_evidence_uploads",
            "evidence uploads by outcome",
            ["status"],
            registry=self.registry,
        )
