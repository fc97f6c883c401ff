"""The residents' error-report page (纠错) on a phone, no sign-in: opened from the link in the QR
code of the station's poster (`binwatch places qr`, decoded with OpenCV), a photo taken and a
note, sent through a network that drops the first try (stored once all the same), the reference
shown; the compound's supervisor finds it in the review queue. Both languages, from the
catalogue; screenshots at 390×844."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest

from tests.conftest import WASTE_V1
from tests.live import PASSWORD, Service
from tests.web.conftest import shot
from tests.web.language import foreign_strings
from tests.web.test_pages import seed


@pytest.fixture
def service(tmp_path: Path, waste_v1_rows: list[dict[str, str]]) -> Iterator[Service]:
    made = seed(tmp_path, waste_v1_rows)
    yield made
    made.stop()


def poster_link(service: Service, tmp_path: Path) -> str:
    """The link in the QR code of the station's poster, as a phone's camera reads it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINWATCH_")}
    env |= {"BINWATCH_DATA_DIR": str(service.settings.data_dir), "BINWATCH_PUBLIC_URL": service.url}
    made = subprocess.run(
        [sys.executable, "-m", "binwatch", "places", "qr", "ST1", "--out", str(tmp_path / "qr")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "qr" / "poster-ST1.pdf").stat().st_size > 10_000
    image = cv2.imread(str(tmp_path / "qr" / "poster-ST1.png"))
    assert image is not None
    link, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert link == f"{service.url}/report?place=ST1", link
    return str(link)


def test_a_resident_reports_from_a_phone(
    browser: Any, service: Service, waste_v1_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    tries: list[str] = []

    def flaky(route: Any) -> None:  # the first try is lost on the way: no answer at all
        tries.append(route.request.method)
        if len(tries) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/public/reports", flaky)
    page.goto(poster_link(service, tmp_path))
    page.wait_for_selector("body[data-ready='1']")
    assert "K1 gate" in page.inner_text("#place")
    for lang in ("zh-CN", "en"):
        if page.evaluate("document.documentElement.lang") != lang:
            page.tap("#lang")
            page.wait_for_function(f"document.documentElement.lang === '{lang}'")
            page.wait_for_selector("body[data-ready='1']")
        assert foreign_strings(page) == []
        shot(page, f"report-390x844-{lang}")
    days = str(service.settings.retention_days)
    assert days in page.inner_text("#privacy")
    photo = next(r for r in waste_v1_rows if r["fine_label"] == "battery")
    page.set_input_files("#photo", str(WASTE_V1 / photo["path"]))
    page.wait_for_selector("#preview img")
    page.fill("#text", "batteries in the kitchen bin")
    page.tap("#send")
    page.wait_for_selector("body[data-ready='sent']", timeout=30_000)
    code = page.inner_text("#code")
    assert len(code) == 14 and code.count("-") == 2
    assert len(tries) == 2  # the lost one, then the one that got through
    assert foreign_strings(page) == []
    shot(page, "report-390x844-sent")
    context.close()
    # the supervisor of the compound finds it, once, with its photo
    login = httpx.post(
        f"{service.url}/api/v1/auth/login", json={"username": "super_k1", "password": PASSWORD}
    ).json()["token"]
    queue = httpx.get(
        f"{service.url}/api/v1/review/queue",
        params={"reason": "report"},
        headers={"Authorization": f"Bearer {login}"},
    ).json()
    mine = [q for q in queue if q["note"] == "batteries in the kitchen bin"]
    assert len(mine) == 1 and mine[0]["report_image_url"]


def test_a_link_without_a_known_place_says_so(browser: Any, service: Service) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{service.url}/report?place=NOPE")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_disabled("#send")
    assert page.inner_text("#status")
    assert foreign_strings(page) == []
    page.close()
