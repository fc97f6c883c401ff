"""The model registry: validated uploads, states, canaries, and what each device is told."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import onnx
import pytest

from tests.api.world import World
from tests.s3 import BOTH_STORES
from tests.tiny_model import build_tiny_model, tiny_metadata


def model_bytes(tmp_path: Path, version: str) -> bytes:
    path = tmp_path / f"{version}.onnx"
    onnx.save(build_tiny_model(metadata=tiny_metadata(model_version=version)), str(path))
    return path.read_bytes()


def upload(world: World, data: bytes, who: str = "engineer") -> Any:
    return world.post(
        "/api/v1/models", who, content=data, headers={"Content-Type": "application/octet-stream"}
    )


def move(world: World, version: str, state: str, stations: list[str] | None = None) -> Any:
    return world.post(
        f"/api/v1/models/{version}/state",
        "engineer",
        json={"state": state, "stations": stations or []},
    )


def test_uploads_are_checked_with_the_device_reader(world: World, tmp_path: Path) -> None:
    good = model_bytes(tmp_path, "tiny-2")
    made = upload(world, good)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["version"], body["state"]) == ("tiny-2", "candidate")
    assert body["sha256"] == hashlib.sha256(good).hexdigest()
    assert upload(world, good).status_code == 409
    no_meta = tmp_path / "bare.onnx"
    onnx.save(build_tiny_model(metadata=None), str(no_meta))
    refused = upload(world, no_meta.read_bytes())
    assert refused.status_code == 422
    assert "metadata" in refused.json()["detail"]
    assert upload(world, b"not onnx at all").status_code == 422
    assert upload(world, good, who="super_k1").status_code == 403


@BOTH_STORES
def test_canary_then_fleet_then_rollback(world: World, tmp_path: Path) -> None:
    for version in ("tiny-2", "tiny-3"):
        upload(world, model_bytes(tmp_path, version))
    assert world.get("/api/v1/device/model", "cam-ST1").status_code == 404  # nothing yet
    assert move(world, "tiny-2", "active").status_code == 409  # candidates go through canary
    assert move(world, "tiny-2", "canary").status_code == 422  # a canary needs stations
    assert move(world, "tiny-2", "canary", ["ST1"]).status_code == 200
    assert world.get("/api/v1/device/model", "cam-ST1").json()["version"] == "tiny-2"
    assert world.get("/api/v1/device/model", "cam-ST2").status_code == 404
    assert move(world, "tiny-2", "active").status_code == 200
    assert world.get("/api/v1/device/model", "cam-ST2").json()["version"] == "tiny-2"
    move(world, "tiny-3", "canary", ["ST2"])
    told = world.get("/api/v1/device/model", "cam-ST2").json()
    assert told["version"] == "tiny-3"
    assert world.get("/api/v1/device/model", "cam-ST1").json()["version"] == "tiny-2"
    download = world.get(told["url"], "cam-ST2")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == told["sha256"]
    move(world, "tiny-3", "active")
    states = {m["version"]: m["state"] for m in world.get("/api/v1/models", "engineer").json()}
    assert states == {"tiny-2": "retired", "tiny-3": "active"}
    assert move(world, "tiny-2", "active").status_code == 200
    assert world.get("/api/v1/device/model", "cam-ST2").json()["version"] == "tiny-2"
    retired = world.get(f"/api/v1/models/files/{told['sha256']}", "cam-ST2")
    assert retired.status_code == 404  # devices only fetch canary or active models
    assert world.get(f"/api/v1/models/files/{told['sha256']}", "engineer").status_code == 200
    assert world.get(f"/api/v1/models/files/{told['sha256']}", "super_k1").status_code == 403


def test_drift_per_station_since_promotion(world: World, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.api.world import event

    upload(world, model_bytes(tmp_path, "tiny-2"))
    before = [
        event("B1", "kitchen", at=datetime.now(UTC) - timedelta(days=1), score=0.9)
        for _ in range(4)
    ]
    assert move(world, "tiny-2", "canary", ["ST1"]).status_code == 200
    after = [
        event(
            "B1",
            "kitchen",
            "other",
            verdict="contaminated",
            model_version="tiny-2",
            at=datetime.now(UTC) + timedelta(seconds=1),
            score=0.3,
        ),
        event(
            "B1",
            "kitchen",
            model_version="tiny-2",
            at=datetime.now(UTC) + timedelta(seconds=1),
            score=0.7,
        ),
    ]
    assert world.send("cam-ST1", before + after).status_code == 200
    rows = world.get("/api/v1/models/tiny-2/drift", "engineer").json()
    assert len(rows) == 1 and rows[0]["station"] == "ST1"
    row = rows[0]
    assert (row["events"], row["baseline_events"]) == (2, 4)
    assert row["flag_rate"] == 0.5 and row["baseline_flag_rate"] == 0.0
    assert row["score_drift"] == pytest.approx(0.5 - 0.9)
