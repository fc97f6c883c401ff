"""A real service on loopback for the agent to talk to, and a simulated station video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.simulate import simulate
from tests.conftest import WASTE_V1, no_datasets
from tests.live import KEY, PASSWORD, Service, free_port, prepare_service

__all__ = ["KEY", "PASSWORD", "Service", "agent_config", "free_port", "prepare_service"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    made = prepare_service(tmp_path)
    made.start()
    yield made
    made.stop()


@pytest.fixture(scope="session")
def station_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short simulated station video from the shared test photos (skips without them)."""
    manifest = WASTE_V1 / "manifest.csv"
    if not manifest.is_file():
        no_datasets(f"shared dataset not found at {manifest} (tests read it from ../shared)")
    out = tmp_path_factory.mktemp("station")
    simulate(manifest, out / "station.mp4", out / "truth.json", dropoffs=12, seed=3)
    return out


def agent_config(
    tmp_path: Path, service_url: str, token: str, video: Path, truth: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "device_id": "cam-sim",
        "station_id": "SIM",
        "pseudonym_key": KEY,
        "service": {
            "url": service_url,
            "token": token,
            "interval_s": 0.2,
            "backoff_max_s": 1.0,
            "timeout_s": 5,
        },
        "bins": [
            {"id": b["id"], "category": b["category"], "roi": b["roi"]} for b in truth["bins"]
        ],
        "source": {"kind": "file", "uri": str(video)},
        "storage": {"dir": str(tmp_path / "edge")},
        "model": {"update": False},
        "metrics": {"port": 0},
    }
    for key, value in extra.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config
