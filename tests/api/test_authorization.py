"""Every route × every role (and devices, and nobody): allowed or denied, and nobody reads or
writes outside their jurisdiction. A new route must be added here (the last test checks)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import pytest

from api.assessment.scheme import default_text
from api.security import appeal_code
from tests.api.world import World, event, local
from tests.tiny_model import build_tiny_model, tiny_metadata

ACTORS = (None, "admin", "office_s1", "super_k1", "super_k3", "engineer", "cam-ST1", "cam-ST2")
USERS: set[str | None] = {"admin", "office_s1", "super_k1", "super_k3", "engineer"}
EVERYONE = set(ACTORS)
DENIED = {401, 403, 404}
_counter = itertools.count()


@dataclass
class Route:
    method: str
    path: str  # the route's template, to check coverage
    allowed: AbstractSet[str | None]
    request: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda ctx: {})


def photo() -> bytes:
    return cv2.imencode(".jpg", np.full((32, 32, 3), 99, np.uint8))[1].tobytes()


def setup(world: World, tmp_path: Path) -> dict[str, Any]:
    image = photo()
    evidence = {
        "sha256": hashlib.sha256(image).hexdigest(),
        "bytes": len(image),
        "width": 32,
        "height": 32,
        "reason": "flagged",
    }
    flagged = event(
        "B1",
        "kitchen",
        "hazardous",
        verdict="contaminated",
        household="H1",
        at=local(10, 9),
        evidence=evidence,
    )
    assert world.send("cam-ST1", [flagged]).status_code == 200
    world.client.put(
        f"/api/v1/ingest/evidence/{flagged.event_id}",
        content=image,
        headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
    )
    item = world.get("/api/v1/review/queue", "super_k1").json()[0]["id"]
    report = world.client.post(
        "/api/v1/public/reports",
        data={"place": "ST1", "text": "x"},
        files={"image": ("p.jpg", image, "image/jpeg")},
    ).json()["id"]
    model = tmp_path / "m.onnx"
    onnx.save(build_tiny_model(metadata=tiny_metadata(model_version="tiny-9")), str(model))
    made = world.post(
        "/api/v1/models",
        "admin",
        content=model.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    ).json()
    world.post(
        "/api/v1/models/tiny-9/state", "admin", json={"state": "canary", "stations": ["ST1", "ST2"]}
    )
    inspection = world.post(
        "/api/v1/inspections",
        "admin",
        json={"place": "ST1", "day": "2026-11-10", "inspector": "Wang", "kind": "guidance"},
    ).json()["id"]
    return {
        "event": flagged,
        "image": image,
        "inspection": inspection,
        "item": item,
        "report": report,
        "model": model.read_bytes(),
        "sha": made["sha256"],
    }


def _user(ctx: dict[str, Any]) -> dict[str, Any]:
    n = next(_counter)
    return {"json": {"username": f"u{n}", "password": "long enough password", "role": "engineer"}}


def _place(ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "json": {"kind": "compound", "code": f"KX{next(_counter)}", "name": "x", "parent": "C1"}
    }


def _batch(ctx: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    from vision.events import EventBatch

    batch = EventBatch(
        device_id="cam-ST1", sent_at=datetime.now(UTC), events=(event("B1", "kitchen"),)
    )
    return {"content": batch.model_dump_json(), "headers": {"Content-Type": "application/json"}}


PERIOD = {"start": "2026-11-01", "end": "2026-11-30"}
K1_READERS: set[str | None] = {"admin", "office_s1", "super_k1"}
ROUTES = [
    Route("GET", "/health", EVERYONE),
    Route("GET", "/metrics", EVERYONE),
    Route(
        "POST",
        "/api/v1/auth/login",
        EVERYONE,
        lambda c: {"json": {"username": "root", "password": "correct horse battery"}},
    ),
    Route("GET", "/api/v1/auth/me", USERS),
    Route("PATCH", "/api/v1/auth/me", USERS, lambda c: {"json": {"language": "zh-CN"}}),
    Route("POST", "/api/v1/users", {"admin"}, _user),
    Route("GET", "/api/v1/users", {"admin"}),
    Route("GET", "/api/v1/places", USERS),
    Route(
        "GET",
        "/api/v1/places/{code}",
        K1_READERS | {"engineer"},
        lambda c: {"path": "/api/v1/places/K1"},
    ),
    Route("POST", "/api/v1/places", {"admin"}, _place),
    Route(
        "POST",
        "/api/v1/bins",
        {"admin"},
        lambda c: {"json": {"code": f"BX{next(_counter)}", "station": "ST1", "category": "other"}},
    ),
    Route(
        "GET",
        "/api/v1/places/{code}/bins",
        K1_READERS | {"engineer"},
        lambda c: {"path": "/api/v1/places/ST1/bins"},
    ),
    Route(
        "POST",
        "/api/v1/places/import",
        {"admin"},
        lambda c: {
            "content": b"kind,code,name,parent\ndistrict,D1,Pudong,\n",
            "headers": {"Content-Type": "text/csv"},
        },
    ),
    Route(
        "POST",
        "/api/v1/devices",
        {"admin"},
        lambda c: {"json": {"code": f"cam-x{next(_counter)}", "station": "ST1"}},
    ),
    Route("GET", "/api/v1/devices", {"admin"}),
    Route(
        "POST",
        "/api/v1/devices/{code}/token",
        {"admin"},
        lambda c: {"path": "/api/v1/devices/cam-ST3/token"},
    ),
    Route(
        "POST",
        "/api/v1/devices/{code}/revoke",
        {"admin"},
        lambda c: {"path": "/api/v1/devices/cam-ST3/revoke"},
    ),
    Route("POST", "/api/v1/ingest/events", {"cam-ST1"}, _batch),
    Route(
        "PUT",
        "/api/v1/ingest/evidence/{event_id}",
        {"cam-ST1"},
        lambda c: {
            "path": f"/api/v1/ingest/evidence/{c['event'].event_id}",
            "content": c["image"],
            "headers": {"Content-Type": "image/jpeg"},
        },
    ),
    Route("GET", "/api/v1/stats/today", USERS),
    Route(
        "POST",
        "/api/v1/inspections",
        K1_READERS,
        lambda c: {
            "json": {"place": "K1", "day": "2026-11-12", "inspector": "Li", "kind": "undercover"}
        },
    ),
    Route(
        "GET", "/api/v1/inspections", K1_READERS, lambda c: {"params": {"place": "K1", **PERIOD}}
    ),
    Route(
        "PATCH",
        "/api/v1/inspections/{inspection_id}",
        K1_READERS,
        lambda c: {
            "path": f"/api/v1/inspections/{c['inspection']}",
            "json": {"rectified_on": "2026-11-12"},
        },
    ),
    Route(
        "GET",
        "/api/v1/assessment",
        {"admin", "office_s1"},
        lambda c: {"params": {"place": "S1", "month": "2026-11"}},
    ),
    Route(
        "GET",
        "/api/v1/assessment/scheme",
        {"admin", "office_s1"},
        lambda c: {"params": {"street": "S1"}},
    ),
    Route(
        "PUT",
        "/api/v1/assessment/scheme",
        {"admin"},
        lambda c: {
            "params": {"street": "S1"},
            "content": default_text().encode(),
            "headers": {"Content-Type": "application/yaml"},
        },
    ),
    Route(  # after the PUT above: the admin's removes what it stored
        "DELETE", "/api/v1/assessment/scheme", {"admin"}, lambda c: {"params": {"street": "S1"}}
    ),
    Route(
        "GET", "/api/v1/stats/summary", K1_READERS, lambda c: {"params": {"place": "K1", **PERIOD}}
    ),
    Route(
        "GET",
        "/api/v1/stats/households",
        K1_READERS,
        lambda c: {"params": {"place": "K1", **PERIOD}},
    ),
    Route(
        "GET",
        "/api/v1/stats/rankings",
        {"admin", "office_s1"},
        lambda c: {"params": {"place": "S1", **PERIOD}},
    ),
    Route("GET", "/api/v1/review/queue", {"admin", "super_k1", "super_k3"}),
    Route("GET", "/api/v1/review/count", {"admin", "super_k1", "super_k3"}),
    Route("GET", "/api/v1/taxonomy", EVERYONE),
    Route(
        "POST",
        "/api/v1/review/items/{item_id}/claim",
        {"admin", "super_k1"},
        lambda c: {"path": f"/api/v1/review/items/{c['item']}/claim"},
    ),
    Route(
        "POST",
        "/api/v1/review/items/{item_id}/decision",
        {"admin", "super_k1"},
        lambda c: {
            "path": f"/api/v1/review/items/{c['item']}/decision",
            "json": {"decision": "confirm"},
        },
    ),
    Route(
        "POST",
        "/api/v1/review/items/{item_id}/supersede",
        {"admin"},
        lambda c: {
            "path": f"/api/v1/review/items/{c['item']}/supersede",
            "json": {"decision": "confirm"},
        },
    ),
    Route(
        "POST",
        "/api/v1/review/items/{item_id}/undo",
        {"admin", "super_k1"},
        lambda c: {"path": f"/api/v1/review/items/{c['item']}/undo"},
    ),
    Route(
        "GET",
        "/api/v1/review/items/{item_id}/reviews",
        {"admin", "super_k1"},
        lambda c: {"path": f"/api/v1/review/items/{c['item']}/reviews"},
    ),
    Route(
        "GET",
        "/api/v1/events/{event_id}/evidence",
        {"admin", "super_k1"},
        lambda c: {"path": f"/api/v1/events/{c['event'].event_id}/evidence"},
    ),
    Route(
        "POST",
        "/api/v1/public/reports",
        EVERYONE,
        lambda c: {"data": {"place": "ST1", "text": "a battery in the kitchen bin"}},
    ),
    Route(
        "GET",
        "/api/v1/public/places/{code}",
        EVERYONE,
        lambda c: {"path": "/api/v1/public/places/ST1"},
    ),
    Route(
        "POST",
        "/api/v1/public/appeals",
        EVERYONE,
        lambda c: {"json": {"code": appeal_code(c["event"].event_id)}},
    ),
    Route(
        "GET",
        "/api/v1/public/appeals/{code}",
        EVERYONE,
        lambda c: {"path": f"/api/v1/public/appeals/{appeal_code(c['event'].event_id)}"},
    ),
    Route(
        "GET",
        "/api/v1/reports/{report_id}/image",
        {"admin", "super_k1"},
        lambda c: {"path": f"/api/v1/reports/{c['report']}/image"},
    ),
    Route(
        "POST",
        "/api/v1/models",
        {"admin", "engineer"},
        lambda c: {"content": c["model"], "headers": {"Content-Type": "application/octet-stream"}},
    ),
    Route("GET", "/api/v1/models", {"admin", "engineer"}),
    Route(
        "POST",
        "/api/v1/models/{version}/state",
        {"admin", "engineer"},
        lambda c: {
            "path": "/api/v1/models/tiny-9/state",
            "json": {"state": "canary", "stations": ["ST1", "ST2"]},
        },
    ),
    Route(
        "GET",
        "/api/v1/models/{version}/drift",
        {"admin", "engineer"},
        lambda c: {"path": "/api/v1/models/tiny-9/drift"},
    ),
    Route(
        "GET",
        "/api/v1/models/{version}/rollout",
        {"admin", "engineer"},
        lambda c: {"path": "/api/v1/models/tiny-9/rollout"},
    ),
    Route("GET", "/api/v1/stations/drift", {"admin", "engineer"}),
    Route("GET", "/api/v1/taxonomy/labels", EVERYONE),
    Route("GET", "/api/v1/device/model", {"cam-ST1", "cam-ST2"}),
    Route("GET", "/api/v1/device/config", {"cam-ST1", "cam-ST2"}),
    Route(
        "PUT",
        "/api/v1/device/snapshot",
        {"cam-ST1", "cam-ST2"},
        lambda c: {"content": c["image"], "headers": {"Content-Type": "image/jpeg"}},
    ),
    Route("GET", "/api/v1/taxonomy/bins", EVERYONE),
    Route(
        "PUT",
        "/api/v1/stations/{code}/snapshot",
        {"admin", "engineer"},
        lambda c: {
            "path": "/api/v1/stations/ST1/snapshot",
            "content": c["image"],
            "headers": {"Content-Type": "image/jpeg"},
        },
    ),
    Route(
        "GET",
        "/api/v1/stations/{code}/snapshot",
        {"admin", "engineer"},
        lambda c: {"path": "/api/v1/stations/ST1/snapshot"},
    ),
    Route(
        "GET",
        "/api/v1/stations/{code}/snapshot.jpg",
        {"admin", "engineer"},
        lambda c: {"path": "/api/v1/stations/ST1/snapshot.jpg"},
    ),
    Route(
        "POST",
        "/api/v1/stations/{code}/snapshot/request",
        {"admin", "engineer"},
        lambda c: {"path": "/api/v1/stations/ST1/snapshot/request"},
    ),
    Route(
        "POST",
        "/api/v1/stations/{code}/station.yaml",
        {"admin", "engineer"},
        lambda c: {
            "path": "/api/v1/stations/ST1/station.yaml",
            "json": {
                "bins": [{"id": "B1", "category": "kitchen", "roi": [[0, 0], [90, 0], [9, 90]]}],
                "width": 100,
                "height": 100,
            },
        },
    ),
    Route(
        "GET",
        "/api/v1/models/files/{sha256}",
        {"admin", "engineer", "cam-ST1", "cam-ST2"},
        lambda c: {"path": f"/api/v1/models/files/{c['sha']}"},
    ),
    Route(
        "GET", "/api/v1/export/reviewed.zip", {"admin", "engineer"}, lambda c: {"params": PERIOD}
    ),
    Route(
        "GET",
        "/api/v1/reports/monthly",
        {"admin", "office_s1"},
        lambda c: {"params": {"place": "S1", "month": "2026-11"}},
    ),
]


# signing out ends each caller's session, so it comes last
ROUTES.append(Route("POST", "/api/v1/auth/logout", USERS))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_for_every_caller(world: World, tmp_path: Path) -> None:
    ctx = setup(world, tmp_path)
    failures = []
    for route in ROUTES:
        for actor in ACTORS:
            spec = route.request(ctx)
            path = spec.pop("path", route.path)
            headers = {**world.auth(actor), **spec.pop("headers", {})}
            response = world.client.request(route.method, path, headers=headers, **spec)
            allowed = actor in route.allowed
            if response.status_code >= 500 or (response.status_code in DENIED) == allowed:
                failures.append(
                    f"{route.method} {route.path} as {actor}: "
                    f"{response.status_code} {response.text[:120]}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_matrix_covers_every_route(client: Any) -> None:
    paths = client.app.openapi()["paths"]
    served = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert served == {(r.method, r.path) for r in ROUTES}
