"""Every request is counted once by its route's template (under /api/v1, as its router names it)
and the status the client got, and timed; ids never become labels, and an unhandled error
counts as the 500 it was answered with."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.app import create_app
from api.db.migrate import upgrade
from api.settings import Settings


def _count(metrics: str, method: str, route: str, status: int) -> float:
    line = re.search(
        rf'^binwatch_http_requests_total\{{method="{method}",route="{re.escape(route)}",'
        rf'status="{status}"\}} (\S+)$', metrics, re.MULTILINE,
    )  # fmt: skip
    return float(line.group(1)) if line else 0.0


def test_requests_are_counted_by_route_template_and_status(settings: Settings) -> None:
    app = create_app(settings)
    upgrade(app.state.engine)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("a handler's bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/health").status_code == 200
        for event_id in ("a1", "b2", "c3"):  # three ids, one template
            assert client.put(f"/api/v1/ingest/evidence/{event_id}").status_code == 401
        assert client.get("/api/v1/no-such-route").status_code == 404
        assert client.get("/api/v1/boom").status_code == 500
        metrics = client.get("/metrics").text
    app.state.engine.dispose()

    assert _count(metrics, "GET", "/health", 200) == 1
    assert _count(metrics, "PUT", "/ingest/evidence/{event_id}", 401) == 3
    assert "a1" not in metrics and "b2" not in metrics
    assert _count(metrics, "GET", "unmatched", 404) == 1
    assert _count(metrics, "GET", "/api/v1/boom", 500) == 1
    timed = re.search(
        r'^binwatch_http_request_seconds_count\{method="PUT",'
        r'route="/ingest/evidence/\{event_id\}"\} (\S+)$', metrics, re.MULTILINE,
    )  # fmt: skip
    assert timed is not None and float(timed.group(1)) == 3
