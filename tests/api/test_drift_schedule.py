"""The drift gauges are refreshed by the service's own schedule: a scrape of /metrics (anyone may
scrape it) reads them and never starts the computation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api.drift
from api.app import create_app
from api.db.migrate import upgrade
from api.settings import Settings


def test_a_scrape_never_computes_drift_and_the_schedule_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    real = api.drift.station_drift

    def counted(session: object) -> object:
        calls.append(time.monotonic())
        return real(session)  # type: ignore[arg-type]

    monkeypatch.setattr(api.drift, "station_drift", counted)
    settings = Settings(data_dir=tmp_path, drift_refresh_seconds=1)
    app = create_app(settings)
    upgrade(app.state.engine)
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:  # at start-up, then a second later
            time.sleep(0.1)
        assert len(calls) >= 2
        before, started = len(calls), time.monotonic()
        for _ in range(20):
            assert client.get("/metrics").status_code == 200
        steps = int(time.monotonic() - started) + 1  # the schedule's own steps meanwhile
        assert len(calls) - before <= steps
    app.state.engine.dispose()
