"""A real `binwatch` service on loopback (uvicorn in a thread), for the agent and page tests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.db.migrate import upgrade
from api.devices import register_device
from api.places import import_csv
from api.schemas import UserCreate
from api.settings import Settings
from api.users import create_user
from edge.privacy import pseudonym

PASSWORD = "supervisor password"
KEY = "station-secret-key-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    url: str
    device_token: str
    settings: Settings
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_app(self.settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("service did not start")

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = self.thread = None

    def admin(self) -> httpx.Client:
        token = httpx.post(
            f"{self.url}/api/v1/auth/login", json={"username": "root", "password": PASSWORD}
        ).json()["token"]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})


def prepare_service(tmp_path: Path, **overrides: Any) -> Service:
    settings = Settings(data_dir=tmp_path / "service", audit_share=1.0, **overrides)
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


def send_dropoffs(
    url: str, token: str, events: list[dict[str, Any]], photos: dict[str, bytes]
) -> None:
    """Events as a device sends them (one batch), then the evidence JPEG of each that has one."""
    from datetime import UTC, datetime

    from vision.events import EventBatch

    device = {"Authorization": f"Bearer {token}"}
    sent = datetime.now(UTC).isoformat()
    batch = EventBatch.model_validate(
        {"device_id": events[0]["device_id"], "sent_at": sent, "events": events}
    )
    stored = httpx.post(
        f"{url}/api/v1/ingest/events",
        content=batch.model_dump_json(),
        headers={**device, "Content-Type": "application/json"},
    )
    assert stored.status_code == 200, stored.text
    for event_id, photo in photos.items():
        put = httpx.put(
            f"{url}/api/v1/ingest/evidence/{event_id}",
            content=photo,
            headers={**device, "Content-Type": "image/jpeg"},
        )
        assert put.status_code == 200, put.text
