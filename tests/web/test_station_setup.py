"""The station set-up page: an engineer uploads a frame of the station's camera, draws two bins'
regions on it by clicking their corners, picks their categories from the station's profile and
downloads the station's YAML, which `binwatch edge check-config` passes, with the regions where
they were drawn (in the frame's pixels). The device path: asked for a frame, the device's config
poll says so and its upload becomes the station's snapshot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest
import yaml

from tests.live import PASSWORD, Service, prepare_service
from tests.web.conftest import shot
from tests.web.language import foreign_strings

W, H = 1280, 720
FIRST = [(100, 100), (500, 100), (500, 600), (100, 600)]
SECOND = [(700, 120), (1180, 120), (1000, 650)]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    made = prepare_service(tmp_path)
    made.start()
    with made.admin() as admin:
        user = {"username": "engineer1", "password": PASSWORD, "role": "engineer"}
        created = admin.post("/api/v1/users", json=user)
        assert created.status_code == 201, created.text
    yield made
    made.stop()


def click_frame(page: Any, point: tuple[int, int]) -> None:
    """A click where the frame's pixel `point` is shown (the image is scaled to the page)."""
    box = page.locator("#frame-img").bounding_box()
    x, y = point
    page.mouse.click(box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H)


def test_an_engineer_draws_two_bins_and_downloads_a_valid_station_file(
    browser: Any, service: Service, tmp_path: Path
) -> None:
    frame = np.full((H, W, 3), 80, np.uint8)
    cv2.rectangle(frame, (100, 100), (500, 600), (40, 110, 60), -1)
    cv2.rectangle(frame, (700, 120), (1180, 650), (120, 90, 50), -1)
    snapshot = tmp_path / "frame.jpg"
    cv2.imwrite(str(snapshot), frame)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{service.url}/login?next=/stations")
    page.fill("#username", "engineer1")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/stations")  # not /login?next=/stations
    page.wait_for_selector("body[data-ready='1']")
    assert foreign_strings(page) == []
    page.evaluate("document.body.dataset.ready = ''")
    page.set_input_files("#frame", str(snapshot))
    page.wait_for_selector("body[data-ready='1'] #frame-img")
    page.wait_for_function("document.getElementById('frame-img').complete")
    for point in FIRST:
        click_frame(page, point)
    click_frame(page, FIRST[0])  # the first corner again closes the region
    for point in SECOND:
        click_frame(page, point)
    page.click("#finish")
    assert page.locator("#regions .region").count() == 2
    page.fill("#regions .region[data-region='0'] input", "SIM-K")
    page.select_option("#regions .region[data-region='0'] select", "kitchen")
    page.fill("#regions .region[data-region='1'] input", "SIM-R")
    page.select_option("#regions .region[data-region='1'] select", "recyclable")
    assert foreign_strings(page) == []
    shot(page, "stations-drawn")
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "SIM.yaml"
    download.value.save_as(saved)
    page.wait_for_selector("#status.ok")
    context.close()
    checked = subprocess.run(
        [sys.executable, "-m", "binwatch", "edge", "check-config", str(saved)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    station = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert station["station_id"] == "SIM" and station["device_id"] == "cam-sim"
    assert (station["source"]["width"], station["source"]["height"]) == (W, H)
    assert [(b["id"], b["category"]) for b in station["bins"]] == [
        ("SIM-K", "kitchen"),
        ("SIM-R", "recyclable"),
    ]
    for drawn, wanted in zip(station["bins"], (FIRST, SECOND), strict=True):
        assert len(drawn["roi"]) == len(wanted)
        for got, want in zip(drawn["roi"], wanted, strict=True):
            assert abs(got[0] - want[0]) <= 3 and abs(got[1] - want[1]) <= 3, (got, want)
    assert "token_file" in station["service"] and "pseudonym_key_file" in station


def test_the_device_sends_a_frame_when_asked(service: Service) -> None:
    engineer = {"Authorization": "Bearer " + httpx.post(
        f"{service.url}/api/v1/auth/login", json={"username": "engineer1", "password": PASSWORD}
    ).json()["token"]}  # fmt: skip
    device = {"Authorization": f"Bearer {service.device_token}"}
    config = f"{service.url}/api/v1/device/config"
    assert httpx.get(config, headers=device).json()["snapshot_wanted"] is False
    asked = httpx.post(f"{service.url}/api/v1/stations/SIM/snapshot/request", headers=engineer)
    assert asked.status_code == 200 and asked.json()["wanted"] is True
    assert httpx.get(config, headers=device).json()["snapshot_wanted"] is True
    frame = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    sent = httpx.put(
        f"{service.url}/api/v1/device/snapshot",
        content=frame,
        headers={**device, "Content-Type": "image/jpeg"},
    )
    assert sent.status_code == 200, sent.text
    state = sent.json()
    assert (state["width"], state["height"], state["source"], state["wanted"]) == (
        640,
        480,
        "device",
        False,
    )
    assert httpx.get(config, headers=device).json()["snapshot_wanted"] is False
    image = httpx.get(f"{service.url}/api/v1/stations/SIM/snapshot.jpg", headers=engineer)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    broken = httpx.put(
        f"{service.url}/api/v1/stations/SIM/snapshot", content=b"not a jpeg", headers=engineer
    )
    assert broken.status_code == 422
    drawn = {"bins": [{"id": "B1", "category": "compost", "roi": [[0, 0], [9999, 0], [5, 5]]}],
             "width": 640, "height": 480}  # fmt: skip
    refused = httpx.post(
        f"{service.url}/api/v1/stations/SIM/station.yaml", json=drawn, headers=engineer
    )
    assert refused.status_code == 422
    said = " ".join(refused.json()["detail"])
    assert "bins.0.category" in said and "bins.0.roi" in said and "outside the frame" in said
