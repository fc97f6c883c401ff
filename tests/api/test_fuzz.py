"""Hypothesis throws malformed and hostile input at the routes a device or the public can reach,
and at the statistics: whatever comes in, the answer is never a 5xx."""

from __future__ import annotations

import json
from typing import Any

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
@given(data=st.binary(max_size=2000), code=st.text(max_size=30), csv=st.text(max_size=300))
def test_uploads_and_public_routes_never_fail(
    world: World, data: bytes, code: str, csv: str
) -> None:
    made = event(
        "B1",
        "kitchen",
        evidence={"sha256": "0" * 64, "bytes": 9, "width": 4, "height": 4, "reason": "flagged"},
    )
    world.send("cam-ST1", [made])
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
