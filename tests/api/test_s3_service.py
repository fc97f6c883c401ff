"""The service with its files in an S3-compatible bucket (moto's S3 server on loopback): a
missing bucket is refused by name (or made, when told to), a store that cannot be reached makes
evidence uploads answer 503 while events are still taken, two service processes with their own
data directories serve each other's evidence, and `binwatch storage migrate` copies a local data
directory's files into the bucket."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from api.app import create_app
from api.objects import LocalStore, evidence_key, model_key
from api.settings import Settings
from bench.ingest import healthy
from tests.api.world import World, event
from tests.live import PASSWORD, free_port, prepare_service, send_dropoffs
from tests.s3 import client, new_bucket

PHOTO = cv2.imencode(".jpg", np.full((120, 160, 3), 90, np.uint8))[1].tobytes()


def test_a_missing_bucket_is_refused_by_name(s3_endpoint: str, tmp_path: Path) -> None:
    name = f"binwatch-missing-{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=tmp_path, storage_url=f"s3://{name}/x")
    with pytest.raises(ValueError, match=f"the bucket '{name}' does not exist"):
        create_app(settings)
    made = create_app(settings.model_copy(update={"storage_create": True}))
    made.state.engine.dispose()
    assert name in [b["Name"] for b in client(s3_endpoint).list_buckets()["Buckets"]]


@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_evidence_waits_while_the_store_is_down(world: World) -> None:
    """Events are ingested; their evidence answers 503 (devices retry it later)."""
    import boto3
    from botocore.config import Config

    from api.storage import objects_for

    store: Any = objects_for(world.settings)
    working = store.client
    store.client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    try:
        flagged = event(
            "B1",
            "hazardous",
            verdict="contaminated",
            evidence={
                "sha256": hashlib.sha256(PHOTO).hexdigest(),
                "bytes": len(PHOTO),
                "width": 160,
                "height": 120,
                "reason": "flagged",
            },
        )
        assert world.send("cam-ST1", [flagged]).status_code == 200
        put = world.client.put(
            f"/api/v1/ingest/evidence/{flagged.event_id}",
            content=PHOTO,
            headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
        )
        assert put.status_code == 503 and int(put.headers["Retry-After"]) > 0
    finally:
        store.client = working
    again = world.client.put(
        f"/api/v1/ingest/evidence/{flagged.event_id}",
        content=PHOTO,
        headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
    )
    assert again.status_code == 200, again.text


def _serve(port: int, data_dir: Path, settings: Settings, log: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {
        "BINWATCH_DATA_DIR": str(data_dir),
        "BINWATCH_DATABASE_URL": str(settings.database_url),
        "BINWATCH_STORAGE_URL": str(settings.storage_url),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "binwatch", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def two_services(s3_endpoint: str, tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    bucket = new_bucket(s3_endpoint)
    seeded = prepare_service(
        tmp_path,
        storage_url=f"s3://{bucket}/city",
        database_url=f"sqlite:///{tmp_path / 'shared.db'}",
    )
    ports = free_port(), free_port()
    processes = [
        _serve(port, tmp_path / name, seeded.settings, tmp_path / f"{name}.log")
        for port, name in zip(ports, ("a", "b"), strict=True)
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            healthy(process, port)
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", seeded
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_two_processes_serve_each_others_evidence(
    two_services: tuple[str, str, Any], tmp_path: Path
) -> None:
    first, second, seeded = two_services
    event_id = str(uuid.uuid4())
    dropoff = {
        "event_id": event_id,
        "device_id": "cam-sim",
        "station_id": "SIM",
        "bin_id": "SIM-K",
        "bin_category": "kitchen",
        "profile": "national",
        "household": None,
        "captured_at": datetime.now(UTC).isoformat(),
        "model_version": "lite0-waste-2.2",
        "items": [{"label": "battery", "category": "hazardous", "confidence": 0.9}],
        "verdict": "contaminated",
        "offending": ["hazardous"],
        "score": 0.1,
        "evidence": {
            "sha256": hashlib.sha256(PHOTO).hexdigest(),
            "bytes": len(PHOTO),
            "width": 160,
            "height": 120,
            "reason": "flagged",
        },
    }
    send_dropoffs(first, seeded.device_token, [dropoff], {event_id: PHOTO})  # to the first
    token = httpx.post(
        f"{second}/api/v1/auth/login", json={"username": "root", "password": PASSWORD}
    ).json()["token"]
    served = httpx.get(
        f"{second}/api/v1/events/{event_id}/evidence",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert served.status_code == 200 and served.content[:2] == b"\xff\xd8"
    kept_locally = [p for name in ("a", "b") for p in (tmp_path / name).rglob("*.jpg")]
    assert not kept_locally  # only the bucket holds it


def test_storage_migrate_copies_a_data_directory(s3_endpoint: str, tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "data")
    event_id = uuid.uuid4()
    local.put(evidence_key(event_id), PHOTO)
    local.put(model_key("c" * 64), b"model bytes" * 1000)
    bucket = new_bucket(s3_endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {"BINWATCH_DATA_DIR": str(tmp_path / "data"), "BINWATCH_STORAGE_URL": f"s3://{bucket}/p"}
    command = [sys.executable, "-m", "binwatch", "storage", "migrate"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "copied 2 file(s)" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert "copied 0 file(s)" in again.stdout and "2 were there already" in again.stdout
    s3 = client(s3_endpoint)
    stored = s3.get_object(Bucket=bucket, Key=f"p/{evidence_key(event_id)}")["Body"].read()
    assert stored == PHOTO
