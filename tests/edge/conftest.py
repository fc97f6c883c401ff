"""A real service on loopback for the agent to talk to, and a simulated station video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.db.migrate import upgrade
from api.places import import_csv
from api.routes.auth import create_user
from api.routes.devices import register_device
from api.schemas import UserCreate
from api.settings import Settings
from edge.privacy import pseudonym
from edge.simulate import simulate
from tests.conftest import WASTE_V1
from tests.live import PASSWORD, Service, free_port

KEY = "station-secret-key-0001"
__all__ = ["KEY", "PASSWORD", "Service", "agent_config", "free_port", "prepare_service"]


def prepare_service(tmp_path: Path) -> Service:
    settings = Settings(data_dir=tmp_path / "service", audit_share=1.0)
    app = create_app(settings)
    upgrade(app.state.engine)
    cards = "\n".join(
        f"household,H{i},,K1,,,yes,{pseudonym(f'CARD-{i:04d}', KEY)}" for i in range(1, 41)
    )
    csv = (
        "kind,code,name,parent,category,profile,registered,cards\n"
        "district,D1,d,,,,,\nstreet,S1,s,D1,,,,\ncommunity,C1,c,S1,,,,\n"
        "compound,K1,k,C1,,,,\nstation,SIM,gate,K1,,national,,\n"
        "bin,SIM-K,kitchen,SIM,kitchen,,,\nbin,SIM-R,recyclable,SIM,recyclable,,,\n" + cards
    )
    with app.state.sessions() as session:
        result = import_csv(session, csv)
        assert not result.errors, result.errors
        create_user(session, UserCreate(username="root", password=PASSWORD, role="admin"))
        _, token = register_device(session, "cam-sim", "SIM")
        session.commit()
    app.state.engine.dispose()
    port = free_port()
    return Service(url=f"http://127.0.0.1:{port}", device_token=token, settings=settings, port=port)


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
        pytest.skip(f"shared dataset not found at {manifest} (tests read it from ../shared)")
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
