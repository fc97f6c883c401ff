"""The pages in headless Chromium against a real service on loopback with a seeded database:
a supervisor reviews ten items with the keyboard only and sees the compound's accuracy change;
another community's supervisor sees none of it. Screenshots (1366×768) go to artifacts/."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest

from api.app import create_app
from api.db.migrate import upgrade
from api.devices import register_device
from api.places import import_csv
from api.schemas import UserCreate
from api.settings import Settings
from api.users import create_user
from tests.api.world import PLACES_CSV, pseudonym
from tests.conftest import WASTE_V1, shipped_version
from tests.live import PASSWORD, Service, free_port, send_dropoffs
from tests.web.conftest import shot, sign_in
from vision.shipped import shipped_model_path

FLAGGED = 12


def seed(tmp_path: Path, rows: list[dict[str, str]]) -> Service:
    settings = Settings(data_dir=tmp_path / "service", audit_share=0.0)
    app = create_app(settings)
    upgrade(app.state.engine)
    cards = {f"h{i}": pseudonym(f"H{i}") for i in range(1, 8)}
    with app.state.sessions() as session:
        assert not import_csv(session, PLACES_CSV.format(**cards)).errors
        assert not import_csv(
            session,
            "kind,code,name,parent,lat,lon\n"
            "station,ST1,K1 gate,K1,31.2304,121.4737\n"
            "station,ST2,K2 gate,K2,31.2361,121.4820\n"
            "station,ST3,K3 gate,K3,31.2012,121.5901\n",
        ).errors
        for name, role, scope in (
            ("root", "admin", []),
            ("super_k1", "supervisor", ["K1"]),
            ("super_k3", "supervisor", ["K3"]),
            ("office_s1", "office", ["S1"]),
            ("engineer", "engineer", []),
        ):
            create_user(
                session, UserCreate(username=name, password=PASSWORD, role=role, scope=scope)
            )
        _, token = register_device(session, "cam-ST1", "ST1")
        session.commit()
    app.state.engine.dispose()
    port = free_port()
    service = Service(
        url=f"http://127.0.0.1:{port}", device_token=token, settings=settings, port=port
    )
    service.start()
    batteries = [r for r in rows if r["split"] == "test" and r["fine_label"] == "battery"]
    now = datetime.now(UTC)
    events, photos = [], {}
    for n in range(FLAGGED + 4):
        flagged = n < FLAGGED
        image = cv2.imread(str(WASTE_V1 / batteries[n]["path"]))
        assert image is not None
        photo = cv2.imencode(".jpg", image)[1].tobytes()
        h, w = image.shape[:2]
        event_id = uuid.uuid4()
        items = [
            {
                "label": "battery" if flagged else "food_waste",
                "category": "hazardous" if flagged else "kitchen",
                "confidence": 0.93,
                "box": {"x": w // 8, "y": h // 8, "w": w * 3 // 4, "h": h * 3 // 4},
            }
        ]
        events.append(
            {
                "event_id": str(event_id),
                "device_id": "cam-ST1",
                "station_id": "ST1",
                "bin_id": "B1",
                "bin_category": "kitchen",
                "profile": "national",
                "household": pseudonym(f"H{1 + n % 4}"),
                "captured_at": (now - timedelta(minutes=5 * n)).isoformat(),
                "model_version": "lite0-waste-1.0",
                "items": items,
                "verdict": "contaminated" if flagged else "correct",
                "offending": ["hazardous"] if flagged else [],
                "score": 0.07 if flagged else 0.93,
                "evidence": {
                    "sha256": hashlib.sha256(photo).hexdigest(),
                    "bytes": len(photo),
                    "width": w,
                    "height": h,
                    "reason": "flagged",
                }
                if flagged
                else None,
            }
        )
        if flagged:
            photos[str(event_id)] = photo
    send_dropoffs(service.url, token, events, photos)
    return service


@pytest.fixture
def service(tmp_path: Path, waste_v1_rows: list[dict[str, str]]) -> Iterator[Service]:
    made = seed(tmp_path, waste_v1_rows)
    yield made
    made.stop()


def accuracy(service: Service) -> float:
    today = datetime.now(UTC)
    with service.admin() as admin:
        totals = admin.get(
            "/api/v1/stats/summary",
            params={
                "place": "K1",
                "start": str((today - timedelta(days=2)).date()),
                "end": str((today + timedelta(days=1)).date()),
            },
        ).json()["totals"]
    return float(totals["accuracy"])


def test_supervisor_reviews_ten_with_the_keyboard(browser: Any, service: Service) -> None:
    login = browser.new_page(viewport={"width": 1366, "height": 768})
    login.goto(f"{service.url}/login")
    shot(login, "login")
    login.close()
    before = accuracy(service)
    assert before == pytest.approx(4 / 16)
    page = sign_in(browser, service.url, "super_k1")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#stage svg rect")  # the model's box drawn over the image
    assert page.inner_text("#left") == str(FLAGGED)
    assert "厨余垃圾" in page.inner_text("#bin") and "Kitchen" in page.inner_text("#bin")
    shot(page, "review")
    for n in range(10):
        expected_left = str(FLAGGED - n - 1)
        if n == 0:  # name the item instead: its category comes with it, then overturn
            page.select_option("#items select[data-item='0']", "food_waste")
            assert "on" in (
                page.get_attribute("#picker button[data-code='kitchen']", "class") or ""
            )
            page.keyboard.press("o")
        elif n == 2:  # the "battery" was a hand reaching in: no item; the food was right
            page.select_option("#items select[data-item='0']", "background")
            assert page.locator("#picker button.on").count() == 0  # no item, no category
            page.keyboard.press("3")
            page.keyboard.press("o")
        elif n % 2 == 0:  # it was food after all: pick 'kitchen' (3), overturn
            page.keyboard.press("3")
            page.keyboard.press("o")
        else:  # a battery indeed: pick 'hazardous' (2), confirm
            page.keyboard.press("2")
            page.keyboard.press("c")
        page.wait_for_function(f"document.getElementById('left').textContent === '{expected_left}'")
    # undo the last decision and make it again
    page.keyboard.press("z")
    page.wait_for_function(f"document.getElementById('left').textContent === '{FLAGGED - 9}'")
    page.keyboard.press("c")
    page.wait_for_function(f"document.getElementById('left').textContent === '{FLAGGED - 10}'")
    after = accuracy(service)
    assert after == pytest.approx((4 + 5) / 16)  # five overturned to correct
    with service.admin() as admin:  # the named item is a training sample now
        zipped = admin.get(
            "/api/v1/export/reviewed.zip",
            params={"start": str((datetime.now(UTC) - timedelta(days=2)).date()),
                    "end": str((datetime.now(UTC) + timedelta(days=1)).date())},
        )  # fmt: skip
    rows = list(
        csv.DictReader(
            io.StringIO(zipfile.ZipFile(io.BytesIO(zipped.content)).read("manifest.csv").decode())
        )
    )
    assert sorted(
        (r["source_label"], r["fine_label"]) for r in rows if r["fine_label"] != r["source_label"]
    ) == [("battery", "background"), ("battery", "food_waste")]
    dash = page  # the same tab keeps its session
    dash.goto(f"{service.url}/dashboard?place=K1")
    dash.wait_for_selector("body[data-ready='1']")
    # no audits in this month yet: no corrected number, and what the month still needs
    assert dash.get_attribute("#month-audits", "data-needed") == str(service.settings.min_audits)
    assert "not enough audits (0)" in dash.inner_text("#corrected")
    shown = float(dash.get_attribute("#accuracy", "data-value") or "nan")
    assert shown == pytest.approx(after)
    assert float(dash.inner_text("#accuracy").rstrip("%")) == pytest.approx(100 * after, abs=0.06)
    shot(dash, "dashboard")


def test_another_community_sees_nothing(browser: Any, service: Service) -> None:
    page = sign_in(browser, service.url, "super_k3")
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#left") == "0"
    assert "Nothing left" in page.inner_text("#stage")
    with service.admin() as admin:
        item = admin.get("/api/v1/review/queue").json()[0]
    status = page.evaluate(
        "url => fetch(url, {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('bw.token')}}).then(r => r.status)",
        item["event"]["evidence_url"],
    )
    assert status == 404
    decided = page.evaluate(
        "id => fetch('/api/v1/review/items/' + id + '/decision', {method: 'POST', headers: "
        "{Authorization: 'Bearer ' + sessionStorage.getItem('bw.token'), 'Content-Type': "
        "'application/json'}, body: JSON.stringify({decision: 'confirm'})}).then(r => r.status)",
        item["id"],
    )
    assert decided == 404


SCHEME = """
name: S1 2026
indicators:
  participation: {weight: 1, bands: [{at_least: 0.7, colour: green}, {at_least: 0, colour: red}]}
  inspections:
    weight: 1
    per_month: {guidance: 2, undercover: 1}
    bands: [{at_least: 1, colour: green}, {at_least: 0, colour: red}]
grades: [{at_least: 70, name: A}, {at_least: 0, name: B}]
min_weight_with_data: 0.5
"""


def record_inspection(page: Any, place: str, kind: str, findings: str) -> None:
    page.select_option("#place", place)
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#kind", kind)
    page.fill("#inspector", "Zhou Min")
    page.fill("#findings", findings)
    page.evaluate("document.body.dataset.ready = ''")
    page.click("#new button[type='submit']")
    page.wait_for_selector("body[data-ready='1']")


def test_office_ranks_maps_and_downloads(browser: Any, service: Service, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    page = sign_in(browser, service.url, "office_s1")
    page.wait_for_selector("body[data-ready='1']")
    shot(page, "dashboard-office")
    today = datetime.now(service.settings.zone).date()  # the service's day, not UTC's
    month = today.strftime("%Y-%m")
    start = f"{month}-01"

    # the street's inspectors record their visits through the form
    page.goto(f"{service.url}/inspections?place=K1")
    page.wait_for_selector("body[data-ready='1']")
    record_inspection(page, "K1", "guidance", "lids left open")
    record_inspection(page, "ST1", "guidance", "")
    record_inspection(page, "K1", "undercover", "tissues in the kitchen bin")
    assert page.eval_on_selector_all("#list tr[data-id]", "rows => rows.length") == 3
    page.evaluate("document.body.dataset.ready = ''")
    page.click("#list button[data-fix]")
    page.wait_for_selector("body[data-ready='1']")
    assert "2 open" in page.inner_text("#count")
    shot(page, "inspections")

    # the default scheme: no audits yet, so no score; the page says what lacks data
    page.goto(f"{service.url}/assessment?place=S1&month={month}")
    page.wait_for_selector("body[data-ready='1']")
    k1 = "tr[data-place='K1']"
    assert "not enough audits (0)" in page.inner_text(f"{k1} td[data-key='corrected_accuracy']")
    assert "not enough data" in page.inner_text(f"{k1} td.lacks:not([data-key])")
    # the default expects 4 guidance visits and 1 undercover check a month: (2/4 + 1) / 2
    assert page.inner_text(f"{k1} td[data-key='inspections']") == "75.0%"

    # the street's own scheme: participation and inspections
    with service.admin() as admin:
        put = admin.put(
            "/api/v1/assessment/scheme",
            params={"street": "S1"},
            content=SCHEME.encode(),
            headers={"Content-Type": "application/yaml"},
        )
        assert put.status_code == 200, put.text
        api = admin.get("/api/v1/assessment", params={"place": "S1", "month": month}).json()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    ranked = page.eval_on_selector_all("tr[data-place]", "rows => rows.map(r => r.dataset.place)")
    assert ranked == [r["place"] for r in api] == ["K1", "K2"]  # by the score
    by_place = {r["place"]: r for r in api}
    assert by_place["K1"]["score"] == pytest.approx(100 * (0.75 + 1.0) / 2)  # H1-H3 of four
    assert by_place["K2"]["score"] == 0.0 and by_place["K2"]["grade"] == "B"
    assert page.inner_text(f"{k1} td.score") == "87.5" and page.inner_text(f"{k1} td.grade") == "A"
    assert page.inner_text(f"{k1} td.change") == "▲ +87.5"  # nothing last month: 0
    assert "band-green" in (page.get_attribute(f"{k1} td[data-key='participation']", "class") or "")
    assert "S1 2026 (street)" in page.inner_text("#scheme")
    page.click("th[data-key='score']")
    page.click("th[data-key='score']")  # descending
    assert page.eval_on_selector("tr[data-place]", "r => r.dataset.place") == "K1"
    shot(page, "assessment")

    downloads = {}
    for format in ("xlsx", "csv"):
        with page.expect_download() as download:
            page.click(f"#{format}")
        target = tmp_path / f"report.{format}"
        download.value.save_as(target)
        downloads[format] = target
    sheet = load_workbook(downloads["xlsx"]).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    rows: dict[Any, dict[Any, Any]] = {
        row[0]: dict(zip(header, row, strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    table: dict[Any, dict[Any, Any]] = {
        r["compound"]: r
        for r in csv.DictReader(io.StringIO(downloads["csv"].read_text("utf-8-sig")))
    }
    with service.admin() as admin:
        k1_summary = admin.get(
            "/api/v1/stats/summary",
            params={"place": "K1", "start": start, "end": str(today)},
        ).json()
    assert rows["K1"]["drop-offs"] == k1_summary["totals"]["dropoffs"] == FLAGGED + 4
    assert rows["K1"]["accuracy"] == pytest.approx(k1_summary["totals"]["accuracy"])
    assert rows["K1"]["participation"] == pytest.approx(k1_summary["participation"])
    for compound, expected in by_place.items():
        for got in (rows[compound], table[compound]):
            assert float(got["score"]) == pytest.approx(round(expected["score"], 1))
            assert got["grade"] == expected["grade"]
            assert float(got["change"]) == pytest.approx(round(expected["change"], 1))
            assert int(got["rank"]) == expected["rank"]
    assert rows["K1"]["indicator: inspections"] == 1.0
    assert table["K1"]["indicator: kitchen_purity"] == ""  # not in this street's scheme

    page.goto(f"{service.url}/map?place=S1&month={month}")
    page.wait_for_selector("body[data-ready='1']")
    stations = page.eval_on_selector_all(
        "a[data-station]", "links => links.map(a => a.dataset.station)"
    )
    assert sorted(stations) == ["ST1", "ST2"]  # ST3 is in S2, outside this office
    # the street's scheme has no accuracy bands: the map says so rather than invent a scale
    assert page.get_attribute("a[data-compound='K1']", "data-band") == "none"
    assert "no bands" in page.inner_text("#legend")
    shot(page, "map")


def test_engineer_promotes_a_canary(browser: Any, service: Service, tmp_path: Path) -> None:
    import onnx

    from tests.tiny_model import build_tiny_model, tiny_metadata

    model = tmp_path / "tiny-7.onnx"
    onnx.save(build_tiny_model(metadata=tiny_metadata(model_version="tiny-7")), str(model))
    with service.admin() as admin:
        made = admin.post(
            "/api/v1/models",
            content=model.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert made.status_code == 201
        shipped = shipped_model_path()
        assert shipped is not None
        assert (
            admin.post(
                "/api/v1/models",
                content=shipped.read_bytes(),
                headers={"Content-Type": "application/octet-stream"},
            ).status_code
            == 201
        )
        for move in ({"state": "canary", "stations": ["ST2"]}, {"state": "active"}):
            admin.post(f"/api/v1/models/{shipped_version()}/state", json=move)
        admin.post("/api/v1/models/tiny-7/state", json={"state": "canary", "stations": ["ST1"]})
    page = sign_in(browser, service.url, "engineer")
    page.wait_for_selector("body[data-ready='1']")
    assert "canary" in page.inner_text("tr[data-version='tiny-7']")
    assert page.inner_text("#which") == "tiny-7"
    compared = page.inner_text("#rollout")
    assert "tiny-7" in compared and f"{shipped_version()} (active)" in compared, compared
    assert "Flag rate" in compared and "Overturned" in compared
    assert "too few items" in page.inner_text("#stations tr[data-station='ST1']")
    shot(page, "models")
    page.evaluate("document.body.dataset.ready = ''")
    page.click("tr[data-version='tiny-7'] button[data-act='active']")
    page.wait_for_selector("body[data-ready='1']")
    assert "active" in page.inner_text("tr[data-version='tiny-7'] td.state")
    with service.admin() as admin:
        states = {m["version"]: m["state"] for m in admin.get("/api/v1/models").json()}
    assert states["tiny-7"] == "active"


def test_resident_sees_a_pending_deduction_and_appeals(browser: Any, service: Service) -> None:
    """The public appeal page, no sign-in: the code on the slip shows the drop-off's deduction
    as pending (the model's word alone), the household list says the same, and an appeal
    from the page puts it under review."""
    from api.security import appeal_code

    with service.admin() as admin:
        item = admin.get("/api/v1/review/queue", params={"reason": "flagged"}).json()[0]
        code = appeal_code(uuid.UUID(item["event"]["event_id"]))
        today = datetime.now(service.settings.zone).date()
        period = {"place": "K1", "start": str(today - timedelta(days=2)), "end": str(today)}
        households = admin.get("/api/v1/stats/households", params=period).json()
    # none confirmed yet; H4 has no card, so a quarter of the flags are anonymous
    assert sum(h["pending_deductions"] for h in households) == FLAGGED * 3 // 4
    assert all(h["points"] >= 0 for h in households)  # so nobody lost a point yet
    page = browser.new_page(viewport={"width": 414, "height": 800})  # a phone
    page.goto(f"{service.url}/appeal")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#code", code.upper())
    page.evaluate("document.body.dataset.ready = ''")
    page.click("#find button")
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("#deduction", "data-state") == "pending"
    assert "not deducted yet" in page.inner_text("#points")
    shot(page, "appeal")
    page.fill("#text", "it was a peel")
    page.evaluate("document.body.dataset.ready = ''")
    page.click("#appeal button")
    page.wait_for_selector("body[data-ready='1']")
    assert "under review" in page.inner_text("#appeal-state")
    assert page.is_hidden("#appeal")
    with service.admin() as admin:
        appeals = admin.get("/api/v1/review/queue", params={"reason": "appeal"}).json()
    assert [a["note"] for a in appeals] == ["it was a peel"]
