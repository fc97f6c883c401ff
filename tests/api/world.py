"""A small real world for the service tests: a place tree, households, users of every role and
a device per station, all made through the API (the first admin through the shared helper, as
`binwatch users create` does)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.schemas import UserCreate
from api.settings import Settings
from api.users import create_user
from vision.events import DropoffEvent, EventBatch

PASSWORD = "correct horse battery"

PLACES_CSV = """kind,code,name,parent,category,profile,registered,cards
district,D1,Pudong,,,,,
street,S1,Huamu,D1,,,,
community,C1,Lianyang,S1,,,,
compound,K1,Green Court,C1,,,,
compound,K2,River Court,C1,,,,
station,ST1,K1 gate,K1,,national,,
station,ST2,K2 gate,K2,,shanghai,,
bin,B1,kitchen,ST1,kitchen,,,
bin,B2,recyclable,ST1,recyclable,,,
bin,B3,hazardous,ST1,hazardous,,,
bin,B4,other,ST1,other,,,
bin,B5,kitchen,ST2,kitchen,,,
bin,B6,other,ST2,other,,,
street,S2,Zhangjiang,D1,,,,
community,C2,Gaoke,S2,,,,
compound,K3,Hill Court,C2,,,,
station,ST3,K3 gate,K3,,rural,,
bin,B7,kitchen,ST3,kitchen,,,
bin,B8,does not rot,ST3,does_not_rot,,,
household,H1,,K1,,,yes,{h1}
household,H2,,K1,,,yes,{h2}
household,H3,,K1,,,yes,{h3}
household,H4,,K1,,,yes,
household,H5,,K1,,,no,{h5}
household,H6,,K2,,,yes,{h6}
household,H7,,K3,,,yes,{h7}
"""


def pseudonym(name: str) -> str:
    return hashlib.sha256(f"card:{name}".encode()).hexdigest()[:32]


STATIONS = {"ST1": ("K1", "national"), "ST2": ("K2", "shanghai"), "ST3": ("K3", "rural")}
BINS = {
    "B1": ("ST1", "kitchen"),
    "B2": ("ST1", "recyclable"),
    "B3": ("ST1", "hazardous"),
    "B4": ("ST1", "other"),
    "B5": ("ST2", "kitchen"),
    "B6": ("ST2", "other"),
    "B7": ("ST3", "kitchen"),
    "B8": ("ST3", "does_not_rot"),
}
ITEM = {  # a typical item of each category
    "kitchen": ("food_waste", "kitchen"),
    "recyclable": ("plastic", "recyclable"),
    "hazardous": ("battery", "hazardous"),
    "other": ("cigarette", "other"),
}


@dataclass
class World:
    client: TestClient
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)  # user or device name → bearer token

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str | None, **params: Any) -> Any:
        return self.client.get(path, headers=self.auth(who), params=params)

    def post(
        self, path: str, who: str | None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        return self.client.post(path, headers={**self.auth(who), **(headers or {})}, **kwargs)

    def send(self, device: str, events: list[DropoffEvent]) -> Any:
        return self.send_as(device, device, events)

    def send_as(self, token_of: str, device: str, events: list[DropoffEvent]) -> Any:
        batch = EventBatch(device_id=device, sent_at=datetime.now(UTC), events=tuple(events))
        return self.post(
            "/api/v1/ingest/events",
            token_of,
            content=batch.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )


def event(
    bin_code: str,
    *items: str,
    verdict: str = "correct",
    household: str | None = None,
    at: datetime | None = None,
    weight: float | None = None,
    evidence: dict[str, Any] | None = None,
    **changes: Any,
) -> DropoffEvent:
    """An event as a device would make it: the bin's station, profile and category, items of the
    given categories, the given verdict."""
    station, bin_category = BINS[bin_code]
    _, profile = STATIONS[station]
    entries = [{"label": ITEM[c][0], "category": ITEM[c][1], "confidence": 0.9} for c in items]
    offending = sorted({c for c in items if c != bin_category}) if verdict == "contaminated" else []
    data: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "device_id": f"cam-{station}",
        "station_id": station,
        "bin_id": bin_code,
        "bin_category": bin_category,
        "profile": profile,
        "household": pseudonym(household) if household else None,
        "captured_at": (at or datetime(2026, 11, 10, 2, 30, tzinfo=UTC)).isoformat(),
        "model_version": "lite0-waste-1.0",
        "items": entries,
        "verdict": verdict,
        "offending": offending,
        "score": None if verdict == "empty" else 0.9,
        "weight_kg": weight,
        "evidence": evidence,
    }
    data.update(changes)
    return DropoffEvent.model_validate(data)


def build_world(client: TestClient, settings: Settings) -> World:
    world = World(client, settings)
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        create_user(session, UserCreate(username="root", password=PASSWORD, role="admin"))
        session.commit()
    world.tokens["admin"] = _login(client, "root")
    cards = {f"h{i}": pseudonym(f"H{i}") for i in range(1, 8)}
    response = world.post(
        "/api/v1/places/import",
        "admin",
        content=PLACES_CSV.format(**cards).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    for name, role, scope in (
        ("office_s1", "office", ["S1"]),
        ("office_d1", "office", ["D1"]),
        ("super_k1", "supervisor", ["K1"]),
        ("super_k3", "supervisor", ["K3"]),
        ("engineer", "engineer", []),
    ):
        body = {"username": name, "password": PASSWORD, "role": role, "scope": scope}
        assert world.post("/api/v1/users", "admin", json=body).status_code == 201
        world.tokens[name] = _login(client, name)
    for station in STATIONS:
        body = {"code": f"cam-{station}", "station": station}
        made = world.post("/api/v1/devices", "admin", json=body)
        assert made.status_code == 201, made.text
        world.tokens[f"cam-{station}"] = made.json()["token"]
    return world


def _login(client: TestClient, username: str) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def local(day: int, hour: int) -> datetime:
    """A time on 2026-11-`day` at `hour` o'clock Shanghai time (UTC+8), as UTC."""
    return datetime(2026, 11, day, hour, tzinfo=UTC) - timedelta(hours=8)
