"""What a stranger can send: bodies over the limits, decompression bombs, ids past the database's
range, validation errors on large input. Each gets a small 4xx, never a 500 or an echo."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.world import World, event
from vision.errors import ImageError
from vision.imagesize import check_declared, jpeg_size


def jpeg(width: int = 64, height: int = 48, params: tuple[int, ...] = ()) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image, list(params))
    assert ok
    return encoded.tobytes()


def bomb(width: int, height: int) -> bytes:
    """A valid 8×8 JPEG whose frame header declares width×height pixels."""
    data = bytearray(jpeg(8, 8))
    at = data.find(b"\xff\xc0")
    data[at + 5 : at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_declared_size_matches_the_decoder() -> None:
    baseline = jpeg(640, 480)
    progressive = jpeg(300, 200, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    assert jpeg_size(baseline) == (640, 480)
    assert jpeg_size(bytes.fromhex("ffd8") + b"\x00\x00junk" + baseline[2:]) == (640, 480)
    for data in (baseline, progressive):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and jpeg_size(data) == (image.shape[1], image.shape[0])
    # a large APP segment before the frame header does not hide it
    padded = baseline[:2] + b"\xff\xe1" + (65000).to_bytes(2, "big") + bytes(64998) + baseline[2:]
    assert jpeg_size(padded) == (640, 480)
    with pytest.raises(ImageError, match="30000×30000"):
        check_declared(bomb(30000, 30000))
    with pytest.raises(ImageError, match="no frame header"):
        check_declared(b"\xff\xd8\xff\xda" + bytes(100))
    check_declared(baseline)


@pytest.mark.parametrize("side", [30000, 40000])
def test_a_decompression_bomb_is_refused_from_its_header(world: World, side: int) -> None:
    data = bomb(side, side)
    assert len(data) < 1000
    response = world.client.post(
        "/api/v1/public/reports",
        data={"place": "K1"},
        files={"image": ("bomb.jpg", data, "image/jpeg")},
    )
    assert response.status_code == 422, response.text
    assert f"{side}×{side}" in response.json()["detail"]
    flagged = event("B1", "hazardous", verdict="contaminated", evidence=_declared(data))
    world.send("cam-ST1", [flagged])
    upload = world.client.put(
        f"/api/v1/ingest/evidence/{flagged.event_id}",
        content=data,
        headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 422 and "declares" in upload.json()["detail"]


def _declared(data: bytes) -> dict[str, object]:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "width": 8,
        "height": 8,
        "reason": "flagged",
    }


def test_bodies_over_their_route_limit_get_413_without_an_echo(world: World) -> None:
    big = b'{"username": "' + b"a" * 2_000_000 + b'", "password": "x"}'
    response = world.client.post(
        "/api/v1/auth/login", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and len(response.content) < 500

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"a" * 100_000

    appeal = world.client.post(
        "/api/v1/public/appeals", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert appeal.status_code == 413 and len(appeal.content) < 500
    events = world.client.post(
        "/api/v1/ingest/events",
        content=b"[" + b" " * (world.settings.max_batch_bytes + 1) + b"]",
        headers={**world.auth("cam-ST1"), "Content-Type": "application/json"},
    )
    assert events.status_code == 413
    # a legal batch far over the JSON limit is not refused for its size
    batch = [event("B1", "kitchen") for _ in range(300)]
    assert world.send("cam-ST1", batch).status_code == 200


def test_validation_errors_do_not_echo_large_input(world: World) -> None:
    long = "x" * 500_000
    response = world.client.post("/api/v1/public/appeals", json={"code": long, "text": long})
    assert response.status_code == 422
    assert len(response.content) < 2_000, response.text[:300]
    short = world.client.post("/api/v1/public/appeals", json={"code": 5})
    assert short.status_code == 422 and short.json()["detail"][0]["input"] == 5


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/{}/image",
        "/api/v1/review/items/{}/reviews",
        "/api/v1/review/items/{}/claim",
    ],
)
def test_ids_past_the_databases_range_are_4xx(world: World, path: str) -> None:
    headers = world.auth("admin")
    for huge in (2**63, 2**64 + 5, -(2**63) - 1):
        method = "POST" if path.endswith("claim") else "GET"
        response = world.client.request(method, path.format(huge), headers=headers)
        assert response.status_code == 422, (huge, response.text)
    largest = world.client.request(
        "POST" if path.endswith("claim") else "GET", path.format(2**63 - 1), headers=headers
    )
    assert largest.status_code == 404


def test_an_unhandled_error_is_counted_as_a_500_of_its_route(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.routes.public as public

    def broken(code: str) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(public, "normalise_appeal_code", broken)
    app = create_app(settings)
    from api.db.migrate import upgrade

    upgrade(app.state.engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/v1/public/appeals/abcd").status_code == 500
        metrics = client.get("/metrics").text
    app.state.engine.dispose()
    line = 'route="/public/appeals/{code}",status="500"'
    assert any(line in row and row.endswith(" 1.0") for row in metrics.splitlines())


def test_a_bomb_file_is_refused_by_the_reader_before_decoding(tmp_path: Path) -> None:
    from vision.imageio import read_image

    path = tmp_path / "bomb.jpg"
    path.write_bytes(bomb(30000, 30000))
    with pytest.raises(ImageError, match="declares 30000×30000"):
        read_image(path)
