"""The office's pages (dashboard, map, assessment) in headless Chromium against a seeded service
(tests/web/test_pages.py's `seed`): one colour scale per rate, from the street's scheme bands,
everywhere; the map's compounds by name; flagged thumbnails that open the review; every string
from the catalogue in both languages; phones (390×844) without sideways scrolling.
Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.live import PASSWORD, Service
from tests.web.conftest import shot, sign_in
from tests.web.language import foreign_strings
from tests.web.test_pages import FLAGGED, seed

# S1's own scheme: bands unlike the default's, so a page that paints fixed thresholds fails
SCHEME = """
name: S1 colours
indicators:
  participation: {weight: 1, bands: [{at_least: 0.7, colour: green}, {at_least: 0.5, colour: yellow}, {at_least: 0, colour: red}]}
  corrected_accuracy: {weight: 1, bands: [{at_least: 0.6, colour: green}, {at_least: 0.2, colour: yellow}, {at_least: 0, colour: red}]}
  kitchen_purity: {weight: 1, bands: [{at_least: 0.5, colour: green}, {at_least: 0.2, colour: yellow}, {at_least: 0, colour: red}]}
grades: [{at_least: 60, name: A}, {at_least: 0, name: B}]
min_weight_with_data: 0.3
"""  # noqa: E501

READY = "body[data-ready='1']"


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, waste_v1_rows: list[dict[str, str]]
) -> Iterator[Service]:
    made = seed(tmp_path_factory.mktemp("office"), waste_v1_rows)
    with made.admin() as admin:
        # a compound whose station stands next to K1's: their labels would collide
        twin = (
            "kind,code,name,parent,lat,lon\n"
            "compound,K4,Twin Court,C1,,\n"
            "station,ST4,K4 gate,K4,31.2306,121.4739\n"
        )
        imported = admin.post(
            "/api/v1/places/import", content=twin, headers={"Content-Type": "text/csv"}
        )
        assert imported.status_code == 200, imported.text
        put = admin.put(
            "/api/v1/assessment/scheme",
            params={"street": "S1"},
            content=SCHEME.encode(),
            headers={"Content-Type": "application/yaml"},
        )
        assert put.status_code == 200, put.text
        # an office account of its own for the language switch (kept with the account), and
        # an admin the sign-in helper knows (it sees the whole district)
        for name, role, scope in (("office_lang", "office", ["S1"]), ("admin_all", "admin", [])):
            user = {"username": name, "password": PASSWORD, "role": role, "scope": scope}
            assert admin.post("/api/v1/users", json=user).status_code == 201
    yield made
    made.stop()


def month(service: Service) -> str:
    return datetime.now(service.settings.zone).strftime("%Y-%m")


def band(bands: list[dict[str, Any]], value: float) -> str:
    """The colour the scheme gives a value: the first band whose `at_least` it reaches."""
    return str(next(b["colour"] for b in bands if value >= b["at_least"]))


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def colour_of(page: Any, selector: str, prop: str) -> str:
    return str(page.eval_on_selector(selector, f"el => getComputedStyle(el).{prop}"))


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(READY)


def test_scheme_by_place(world: Service) -> None:
    """GET /assessment/scheme?place=: the scheme of the street a place belongs to."""
    with world.admin() as admin:
        k1 = admin.get("/api/v1/assessment/scheme", params={"place": "K1"}).json()
        assert (k1["street"], k1["source"], k1["scheme"]["name"]) == ("S1", "street", "S1 colours")
        k3 = admin.get("/api/v1/assessment/scheme", params={"place": "ST3"}).json()
        assert (k3["street"], k3["source"]) == ("S2", "default")
        assert admin.get("/api/v1/assessment/scheme", params={"place": "D1"}).status_code == 422
        assert admin.get("/api/v1/assessment/scheme").status_code == 422
    for user, status in (("super_k1", 200), ("super_k3", 404)):
        token = httpx.post(
            f"{world.url}/api/v1/auth/login", json={"username": user, "password": PASSWORD}
        ).json()["token"]
        got = httpx.get(
            f"{world.url}/api/v1/assessment/scheme",
            params={"place": "K1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert got.status_code == status, (user, got.text)


def test_one_colour_per_rate_everywhere(browser: Any, world: Service) -> None:
    """(a) a rate's value has the same colour on the map marker, the assessment cell and the
    dashboard card: its band under the street's scheme, from one palette."""
    with world.admin() as admin:
        scheme = admin.get("/api/v1/assessment/scheme", params={"place": "K1"}).json()
        table = admin.get("/api/v1/assessment", params={"place": "S1", "month": month(world)})
    indicators = scheme["scheme"]["indicators"]
    k1 = next(r for r in table.json() if r["place"] == "K1")
    participation = next(i for i in k1["indicators"] if i["key"] == "participation")["value"]
    page = sign_in(browser, world.url, "office_s1")
    page.wait_for_selector(READY)
    palette = page.evaluate("BW.colours.palette")
    hexes = {palette[c] for c in ("green", "yellow", "red", "none")}
    assert len(hexes) == 4  # one colour each

    open_page(page, f"{world.url}/dashboard?place=K1")
    dash = {
        rate: (
            page.get_attribute(f"#kpi-{rate}", "data-band"),
            colour_of(page, f"#kpi-{rate} i.swatch", "backgroundColor"),
        )
        for rate in ("participation", "accuracy", "corrected_accuracy", "kitchen_purity")
    }
    accuracy = float(page.get_attribute("#accuracy", "data-value") or "nan")
    assert accuracy == pytest.approx(4 / 16)
    assert participation == pytest.approx(3 / 4)
    # the accuracy is banded like the corrected accuracy: 25 % is yellow here (red by default)
    expected_accuracy = band(indicators["corrected_accuracy"]["bands"], accuracy)
    expected_participation = band(indicators["participation"]["bands"], participation)
    assert (expected_accuracy, expected_participation) == ("yellow", "green")
    assert dash["accuracy"] == (expected_accuracy, rgb(palette[expected_accuracy]))
    assert dash["participation"] == (expected_participation, rgb(palette[expected_participation]))
    # no audits: no corrected number, and no colour pretending there is one
    assert dash["corrected_accuracy"] == ("none", rgb(palette["none"]))
    purity = band(indicators["kitchen_purity"]["bands"], 4 / 16)  # all in the kitchen bin
    assert dash["kitchen_purity"] == (purity, rgb(palette[purity]))
    assert "S1 colours" in page.inner_text("#scheme")

    open_page(page, f"{world.url}/assessment?place=S1&month={month(world)}")
    cell = "tr[data-place='K1'] td[data-key='participation']"
    assert page.get_attribute(cell, "data-band") == expected_participation
    assert colour_of(page, f"{cell} i.swatch", "backgroundColor") == dash["participation"][1]
    legend = page.inner_text("#scheme")
    assert "≥ 70%" in legend and "50%–70%" in legend and "< 50%" in legend  # from the bands

    open_page(page, f"{world.url}/map?place=S1&month={month(world)}")
    marker = "a[data-compound='K1'] circle.compound"
    assert page.get_attribute("a[data-compound='K1']", "data-band") == expected_accuracy
    assert colour_of(page, marker, "fill") == dash["accuracy"][1]
    legend = page.inner_text("#legend")
    assert "≥ 60%" in legend and "20%–60%" in legend and "< 20%" in legend
    assert "accuracy" in legend  # which rate the colours show
    chips = page.eval_on_selector_all(
        "#legend .chip",
        "cs => cs.map(c => [c.dataset.band, getComputedStyle(c.firstChild).backgroundColor])",
    )
    assert [band for band, _ in chips] == ["green", "yellow", "red", "none"]
    assert all(colour == rgb(palette[band]) for band, colour in chips)


def test_map_names_compounds_and_opens_their_dashboard(browser: Any, world: Service) -> None:
    """(b) compounds by name with their rate at the mean of their stations, stations as small
    markers named in their titles, labels that do not overlap, a click to the dashboard."""
    page = sign_in(browser, world.url, "admin_all")
    open_page(page, f"{world.url}/map?place=D1&month={month(world)}")
    names = page.eval_on_selector_all(
        "a[data-compound]",
        "as => as.map(a => [a.dataset.compound, a.querySelector('text').textContent])",
    )
    assert sorted(code for code, _ in names) == ["K1", "K2", "K3", "K4"]
    labels = dict(names)
    assert labels["K1"].startswith("Green Court") and "25.0%" in labels["K1"]
    assert labels["K3"].startswith("Hill Court")
    stations = page.eval_on_selector_all(
        "a[data-station]",
        "as => as.map(a => [a.dataset.station, a.querySelector('title').textContent])",
    )
    assert sorted(map(tuple, stations)) == [
        ("ST1", "K1 gate"),
        ("ST2", "K2 gate"),
        ("ST3", "K3 gate"),
        ("ST4", "K4 gate"),
    ]
    # one station each: the compound sits on it; stations are the smaller markers
    at = "el => [el.getAttribute('cx'), el.getAttribute('cy'), Number(el.getAttribute('r'))]"
    compound = page.eval_on_selector("a[data-compound='K1'] circle.compound", at)
    station = page.eval_on_selector("a[data-station='ST1'] circle", at)
    assert compound[:2] == station[:2] and station[2] < compound[2]
    boxes = page.eval_on_selector_all(
        "g.label rect",
        "rs => rs.map(r => r.getBoundingClientRect()).map(b => [b.x, b.y, b.right, b.bottom])",
    )
    assert len(boxes) == 4
    for i, a in enumerate(boxes):  # K1's and K4's labels were nudged apart
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    shot(page, "office-map-district")
    assert page.get_attribute("#scale", "data-metres")  # a scale bar, in round metres
    assert foreign_strings(page) == []
    page.click("a[data-compound='K3'] g.label")
    page.wait_for_url("**/dashboard?place=K3")
    page.wait_for_selector(READY)
    assert page.eval_on_selector("#place", "s => s.value") == "K3"


def test_flagged_thumbnails_open_the_review(browser: Any, world: Service) -> None:
    """(c) a supervisor's thumbnails link to their queue items; an office is told who reviews."""
    with world.admin() as admin:
        queue = admin.get(
            "/api/v1/review/queue", params={"reason": "flagged", "place": "K1", "limit": 50}
        ).json()
    ids = {str(item["id"]) for item in queue}
    page = sign_in(browser, world.url, "super_k1")
    open_page(page, f"{world.url}/dashboard?place=K1")
    links = page.eval_on_selector_all("#thumbs a", "as => as.map(a => a.getAttribute('href'))")
    assert len(links) == 8 and all(link.startswith("/review?item=") for link in links)
    assert {link.split("=", 1)[1] for link in links} <= ids
    assert foreign_strings(page) == []
    page.click("#thumbs a >> nth=0")
    page.wait_for_url(f"**{links[0]}")

    page = sign_in(browser, world.url, "office_s1")
    open_page(page, f"{world.url}/dashboard?place=K1")
    said = page.inner_text("#thumbs")
    assert "reviewed by the compound's supervisors" in said
    assert f"contaminated in this period: {FLAGGED}" in said
    assert "none" not in said
    assert page.locator("#thumbs img").count() == 0


PAGES = ("dashboard?place=K1", "map?place=S1", "assessment?place=S1")


def test_every_string_from_the_catalogue_and_phones(browser: Any, world: Service) -> None:
    """(d) no foreign string on the three pages in either language (the #lang switch);
    (e) at 390×844 nothing scrolls sideways: the dashboard's cards stack, the assessment's table
    scrolls inside its card; (f) screenshots at 1366×768 and 390×844, both languages."""
    page = sign_in(browser, world.url, "office_lang")
    page.wait_for_selector(READY)
    for lang in ("en", "zh-CN"):
        for path in PAGES:
            name = path.split("?")[0]
            page.set_viewport_size({"width": 1366, "height": 768})
            open_page(page, f"{world.url}/{path}&month={month(world)}")
            assert page.get_attribute("html", "lang") == lang
            assert foreign_strings(page) == [], (lang, name)
            shot(page, f"office-{name}-{lang}-1366")
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(250)  # the map redraws for its new size
            assert foreign_strings(page) == [], (lang, name, 390)
            width = page.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 390, (name, lang, width)
            if name == "dashboard":
                for cards in (".kpis > .card", ".grid > .card", ".lower > .card"):
                    lefts = page.eval_on_selector_all(
                        cards, "cs => cs.map(c => c.getBoundingClientRect().left)"
                    )
                    assert len(set(lefts)) == 1, (cards, lefts)  # one column
                tops = page.eval_on_selector_all(
                    ".kpis > .card", "cs => cs.map(c => c.getBoundingClientRect().top)"
                )
                assert tops == sorted(tops) and len(set(tops)) == 4
            if name == "assessment":  # the table is wider than the phone: its card scrolls
                inner = page.eval_on_selector(".scroll", "s => [s.scrollWidth, s.clientWidth]")
                assert inner[0] > inner[1], inner
            shot(page, f"office-{name}-{lang}-390")
        if lang == "en":  # to Chinese: the page reloads in the other language
            with page.expect_navigation():
                page.click("#lang")
            page.wait_for_selector(READY)
            assert page.get_attribute("html", "lang") == "zh-CN"
