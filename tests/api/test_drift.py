"""Per-station drift: a station whose model suddenly sees low-confidence 'other' items (a dirty
lens) is flagged, in the API and as a Prometheus gauge; a steady station and a quiet one are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.drift import psi
from tests.api.world import World, event


def _events(bin_code: str, days_ago: float, n: int, category: str, label: str, low: float,
            high: float, seed: int) -> list:  # type: ignore[type-arg]  # fmt: skip
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    out = []
    for k in range(n):
        item = {"label": label, "category": category, "confidence": float(rng.uniform(low, high))}
        at = now - timedelta(days=days_ago, minutes=7 * k)
        out.append(event(bin_code, verdict="uncertain" if low < 0.7 else "correct", at=at,
                         items=[item]))  # fmt: skip
    return out


def test_psi_is_zero_for_the_same_histogram_and_grows_with_change() -> None:
    same = np.array([10.0, 20.0, 30.0])
    assert psi(same, same) == 0.0
    assert 0 < psi(np.array([12.0, 20.0, 28.0]), same) < 0.05
    assert psi(np.array([50.0, 5.0, 5.0]), same) > 0.25


def test_a_dirty_lens_is_flagged(world: World) -> None:
    ref1 = _events("B1", 10, 60, "kitchen", "food_waste", 0.85, 0.99, 1)
    now1 = _events("B1", 1, 60, "other", "residual", 0.35, 0.65, 2)  # the lens is dirty
    ref2 = _events("B5", 12, 60, "kitchen", "food_waste", 0.85, 0.99, 3)
    now2 = _events("B5", 1, 60, "kitchen", "food_waste", 0.85, 0.99, 4)  # as before
    quiet = _events("B7", 1, 5, "kitchen", "food_waste", 0.85, 0.99, 5)
    for device, events in (("cam-ST1", ref1 + now1), ("cam-ST2", ref2 + now2), ("cam-ST3", quiet)):
        assert world.send(device, events).status_code == 200
    assert world.get("/api/v1/stations/drift", "super_k1").status_code == 403
    rows = {
        r["station"]: r
        for r in world.get("/api/v1/stations/drift", "engineer", refresh="true").json()
    }
    assert rows["ST1"]["drifting"] and "confidence moved" in rows["ST1"]["reason"]
    assert "predicted categories moved" in rows["ST1"]["reason"]
    assert rows["ST1"]["recent_mean_confidence"] < 0.7 < rows["ST1"]["reference_mean_confidence"]
    assert not rows["ST2"]["drifting"] and rows["ST2"]["confidence_psi"] < 0.25
    assert not rows["ST3"]["drifting"] and rows["ST3"]["confidence_psi"] is None
    metrics = world.client.get("/metrics").text
    assert 'binwatch_station_drifting{station="ST1"} 1.0' in metrics
    assert 'binwatch_station_drifting{station="ST2"} 0.0' in metrics
    assert 'binwatch_station_drift_psi{measure="confidence",station="ST1"}' in metrics


def test_a_canary_beside_the_active_model(world: World) -> None:
    """The rollout comparison counts each model's own drop-offs, flags and reviews."""

    from tests.tiny_model import build_tiny_model, tiny_metadata

    for version in ("tiny-a", "tiny-b"):
        model = build_tiny_model(metadata=tiny_metadata(model_version=version))
        made = world.post(
            "/api/v1/models",
            "engineer",
            content=model.SerializeToString(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert made.status_code == 201, made.text
    for move in ({"state": "canary", "stations": ["ST1"]}, {"state": "active"}):
        assert world.post("/api/v1/models/tiny-a/state", "engineer", json=move).status_code == 200
    canary = {"state": "canary", "stations": ["ST1"]}
    assert world.post("/api/v1/models/tiny-b/state", "engineer", json=canary).status_code == 200
    at = datetime.now(UTC) - timedelta(hours=1)
    sent = []
    for version, flagged in (("tiny-a", 4), ("tiny-b", 1)):
        for k in range(10):
            bad = k < flagged
            sent.append(event("B1", "hazardous" if bad else "kitchen",
                              verdict="contaminated" if bad else "correct",
                              at=at + timedelta(minutes=k), model_version=version))  # fmt: skip
    assert world.send("cam-ST1", sent).status_code == 200
    got = world.get("/api/v1/models/tiny-b/rollout", "engineer", days="1")
    assert got.status_code == 200, got.text
    r = got.json()
    assert (r["model"]["events"], r["active"]["events"]) == (10, 10)
    assert r["model"]["flag_rate"] == 0.1 and r["active"]["flag_rate"] == 0.4
    assert r["difference"]["flag_rate"] == pytest.approx(-0.3)
    assert sum(r["model"]["confidence_histogram"]) == 10 and r["model"]["mean_confidence"] == 0.9
    assert world.get("/api/v1/models/tiny-a/rollout", "engineer").status_code == 409  # it's active
