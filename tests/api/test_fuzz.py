"""Hypothesis throws malformed and hostile input at the routes a device or the public can reach,
and at the statistics: whatever comes in, the answer is never a 5xx."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.world import World, event

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "event_id",
    "device_id",
    "station_id",
    "bin_id",
    "bin_category",
    "profile",
    "household",
    "captured_at",
    "model_version",
    "items",
    "verdict",
    "offending",
    "score",
    "weight_kg",
    "evidence",
    "schema_version",
]


def _seed_jpeg() -> bytes:
    y, x = np.mgrid[0:48, 0:64]
    image = np.dstack([x * 4, y * 5, (x + y) * 2]).astype(np.uint8)
    return bytes(cv2.imencode(".jpg", image)[1].tobytes())


SEED = _seed_jpeg()
SOF = SEED.find(b"\xff\xc0")


def _overwrite(at: int, data: bytes) -> bytes:
    return SEED[:at] + data + SEED[at + len(data) :]


def _declare(size: tuple[int, int]) -> bytes:
    width, height = size
    return _overwrite(SOF + 5, height.to_bytes(2, "big") + width.to_bytes(2, "big"))


# what reaches the decoder: a real JPEG with bytes overwritten, cut short, or declaring another
# size (up to 65535² pixels), and plain noise
JPEGISH = st.one_of(
    st.tuples(st.integers(0, len(SEED) - 1), st.binary(min_size=1, max_size=16)).map(
        lambda a: _overwrite(*a)
    ),
    st.integers(0, len(SEED)).map(lambda n: SEED[:n]),
    st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(_declare),
    st.binary(max_size=2000),
    st.just(SEED),
)
CHECK = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def valid_event() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(event("B1", "kitchen", household="H1").model_dump_json())
    return data


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@CHECK
@given(field=st.sampled_from(FIELDS), value=JSON)
def test_ingest_never_fails_on_a_mangled_event(world: World, field: str, value: Any) -> None:
    body: dict[str, Any] = {
        "device_id": "cam-ST1",
        "sent_at": "2026-11-10T00:00:00Z",
        "events": [valid_event()],
    }
    body["events"][0][field] = value
    response = world.client.post("/api/v1/ingest/events", json=body, headers=world.auth("cam-ST1"))
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["results"][0]["status"] in ("stored", "rejected", "duplicate")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@CHECK
@given(body=JSON)
def test_ingest_never_fails_on_any_json(world: World, body: Any) -> None:
    response = world.client.post("/api/v1/ingest/events", json=body, headers=world.auth("cam-ST1"))
    assert response.status_code < 500


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@CHECK
@given(
    place=st.text(max_size=12) | st.sampled_from(["K1", "S1", "D1", "ST1"]),
    start=st.text(max_size=12) | st.dates().map(str),
    end=st.dates().map(str),
    bucket=st.text(max_size=5) | st.sampled_from(["day", "hour"]),
)
def test_statistics_never_fail(world: World, place: str, start: str, end: str, bucket: str) -> None:
    for path in ("/api/v1/stats/summary", "/api/v1/stats/households", "/api/v1/stats/rankings"):
        response = world.get(path, "admin", place=place, start=start, end=end, bucket=bucket)
        assert response.status_code < 500, (path, response.text)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@CHECK
@given(data=JPEGISH, code=st.text(max_size=30), csv=st.text(max_size=300))
def test_uploads_and_public_routes_never_fail(
    world: World, data: bytes, code: str, csv: str
) -> None:
    """The evidence declares the fuzzed bytes' own sha256, so they reach the decoder."""
    world.settings.public_reports_per_client = 10_000
    world.settings.public_lookups_per_client = 10_000
    evidence = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": max(1, len(data)),
        "width": 64,
        "height": 48,
        "reason": "flagged",
    }
    made = event("B1", "kitchen", evidence=evidence)
    assert world.send("cam-ST1", [made]).status_code == 200
    responses = [
        world.client.put(
            f"/api/v1/ingest/evidence/{made.event_id}",
            content=data,
            headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
        ),
        world.client.post("/api/v1/public/appeals", json={"code": code, "text": code}),
        world.client.post(
            "/api/v1/public/reports",
            data={"place": code or "ST1", "text": code},
            files={"image": ("x.jpg", data, "image/jpeg")},
        ),
        world.post(
            "/api/v1/places/import",
            "admin",
            content=csv.encode(),
            headers={"Content-Type": "text/csv"},
        ),
        world.post(
            "/api/v1/models",
            "engineer",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        ),
    ]
    for response in responses:
        assert response.status_code < 500, response.text
    stored = responses[0]
    assert stored.status_code in (200, 413, 422), stored.text
    if stored.status_code == 200:  # what was kept decodes, at the size it says
        kept = world.get(f"/api/v1/events/{made.event_id}/evidence", "admin")
        image = cv2.imdecode(np.frombuffer(kept.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] == stored.json()["width"]
