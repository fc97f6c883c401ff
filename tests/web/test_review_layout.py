"""The review page fits the screen and speaks one language: at 1366×768 and 1920×1080 every
control stays in view for drop-offs of one to six items (the item list scrolls in its own
panel), every refusal and success shows in the status line in the chosen language, a phone
(390×844) reviews by touch alone, each item's box carries a number that the list repeats,
items already in the bin from earlier drop-offs are dimmed, and `/review?item=ID` opens that
item first. One service for the module (the queue is shared: each test takes what comes)."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest

from tests.conftest import WASTE_V1
from tests.live import PASSWORD, Service, send_dropoffs
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.web.language import catalogue, foreign_strings, known
from tests.web.test_pages import seed

DESKTOPS = [(1366, 768), (1920, 1080)]
PHONE = (390, 844)
# the queue, newest first: drop-offs of 1 to 6 items, then a crowded one (boxes sharing a
# corner: their number tags must move apart) and one with two items from earlier drop-offs
COUNTS = [6, 1, 3, 5, 2, 4, 6, 1, 3, 5, 2, 4, 6, 3, 1, 2, 5]
CROWDED, EARLIER = "crowded", "earlier"
LABELS = ["battery", "food_waste", "plastic", "paper", "medicine", "metal", "glass", "residual"]
# every control a decision needs, and what it is decided about
CONTROLS = [
    "#photo",
    "#items",
    "#bin",
    "#picker button[data-code='recyclable']",
    "#picker button[data-code='hazardous']",
    "#picker button[data-code='kitchen']",
    "#picker button[data-code='other']",
    "#confirm",
    "#overturn",
    "#unclear",
    "#skip",
    "#undo",
    "#status",
]


@dataclass
class World:
    service: Service
    items: dict[str, int]  # queue item id of the crowded and the earlier drop-off


def compose(rows: list[dict[str, str]], kind: str | int, n: int) -> tuple[bytes, list[Any]]:
    """A 960×720 photo of a bin with `n` dataset items laid out in it; each item's box (None
    for items already in the bin from earlier), labels and categories."""
    canvas = np.full((720, 960, 3), (58, 66, 74), np.uint8)
    by_label = {r["fine_label"]: r for r in rows if r["split"] == "test"}
    placed = []
    for k in range(n):
        label = LABELS[k % len(LABELS)]
        row = by_label[label]
        if kind == CROWDED:  # piled up: the boxes almost share their top-left corner
            x, y, w, h = 220 + 28 * k, 140 + 22 * k, 330, 330
        elif kind == EARLIER and k >= 3:  # the right third: already there, no box
            x, y, w, h = 680, 60 + 320 * (k - 3), 240, 260
        else:
            columns = 3 if n > 4 or kind == EARLIER else min(n, 2)
            rows_of = (min(n, 3) + columns - 1) // columns if kind == EARLIER else -(-n // columns)
            width = (640 if kind == EARLIER else 960) // columns
            height = 720 // max(rows_of, 1)
            x = (k % columns) * width + width // 10
            y = (k // columns) * height + height // 10
            w, h = width * 8 // 10, height * 8 // 10
        picture = cv2.imread(str(WASTE_V1 / row["path"]))
        assert picture is not None
        scale = min(w / picture.shape[1], h / picture.shape[0])  # fitted, not stretched
        x, y = (
            x + (w - int(picture.shape[1] * scale)) // 2,
            y + (h - int(picture.shape[0] * scale)) // 2,
        )
        w, h = int(picture.shape[1] * scale), int(picture.shape[0] * scale)
        canvas[y : y + h, x : x + w] = cv2.resize(picture, (w, h))
        box = None if kind == EARLIER and k >= 3 else {"x": x, "y": y, "w": w, "h": h}
        placed.append((label, row["category"], box))
    return cv2.imencode(".jpg", canvas)[1].tobytes(), placed


def add_dropoffs(service: Service, rows: list[dict[str, str]]) -> dict[str, str]:
    """Flagged drop-offs at ST1's kitchen bin, newer than seed()'s (so first in the queue)."""
    now = datetime.now(UTC)
    plan: list[tuple[str | int, int]] = [(n, n) for n in COUNTS] + [(CROWDED, 4), (EARLIER, 5)]
    events, photos, names = [], {}, {}
    for k, (kind, n) in enumerate(plan):
        photo, placed = compose(rows, kind, n)
        event_id = str(uuid.uuid4())
        offending = sorted({c for _, c, _ in placed if c != "kitchen"})
        events.append(
            {
                "event_id": event_id,
                "device_id": "cam-ST1",
                "station_id": "ST1",
                "bin_id": "B1",
                "bin_category": "kitchen",
                "profile": "national",
                "captured_at": (now + timedelta(milliseconds=len(plan) - k)).isoformat(),
                "model_version": "lite0-waste-1.0",
                "items": [
                    {"label": label, "category": category, "confidence": 0.9 - 0.05 * j}
                    | ({"box": box} if box else {})
                    for j, (label, category, box) in enumerate(placed)
                ],
                "verdict": "contaminated",
                "offending": offending,
                "score": 0.1,
                "evidence": {
                    "sha256": hashlib.sha256(photo).hexdigest(),
                    "bytes": len(photo),
                    "width": 960,
                    "height": 720,
                    "reason": "flagged",
                },
            }
        )
        photos[event_id] = photo
        if isinstance(kind, str):
            names[kind] = event_id
    send_dropoffs(service.url, service.device_token, events, photos)
    return names


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, waste_v1_rows: list[dict[str, str]]
) -> Iterator[World]:
    service = seed(tmp_path_factory.mktemp("review"), waste_v1_rows)
    try:
        names = add_dropoffs(service, waste_v1_rows)
        with service.admin() as admin:
            queue = admin.get("/api/v1/review/queue", params={"limit": 100}).json()
        by_event = {q["event"]["event_id"]: q["id"] for q in queue if q["event"]}
        assert [q["event"]["items"].__len__() for q in queue[: len(COUNTS)]] == COUNTS
        yield World(service, {kind: by_event[event_id] for kind, event_id in names.items()})
    finally:
        service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module (each test opens its own context: its own storage); the
    same checks and flags as tests/web/conftest.py's."""
    playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra has it")
    if not Path(CHROMIUM).exists():
        if os.environ.get("BINWATCH_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# --- helpers ----------------------------------------------------------------------------


def open_review(
    browser: Any, service: Service, size: tuple[int, int], touch: bool = False, query: str = ""
) -> Any:
    """A fresh browser (its own storage) signed in as super_k1, on /review{query}, ready."""
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch
    )
    page = context.new_page()
    page.goto(f"{service.url}/login?next=/review{query}")
    page.fill("#username", "super_k1")
    page.fill("#password", PASSWORD)
    if touch:
        page.tap("#submit")
    else:
        page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/review")
    page.wait_for_selector("body[data-ready='1']")
    return page


def settled(page: Any) -> int:
    """Wait until the shown item is drawn in full (photo, boxes, list); its queue item id."""
    page.wait_for_function(
        "() => document.body.dataset.item && document.querySelector('#stage svg') &&"
        " document.querySelectorAll('#items .item').length > 0"
    )
    return int(page.evaluate("document.body.dataset.item"))


def use_language(page: Any, lang: str) -> None:
    """Switch with the bar's button (it reloads the page) unless the page speaks `lang`."""
    if page.evaluate("BW.lang()") == lang:
        return
    with page.expect_navigation():
        page.click("#lang")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("BW.lang()") == lang


def out_of_view(page: Any, selectors: list[str]) -> list[str]:
    """The controls whose box is not wholly inside the viewport (or that have no box)."""
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    wrong = []
    for selector in selectors:
        box = page.locator(selector).bounding_box()
        if box is None or box["width"] < 1 or box["height"] < 1:
            wrong.append(f"{selector}: not shown")
        elif (
            box["x"] < 0
            or box["y"] < 0
            or box["x"] + box["width"] > width + 0.5
            or box["y"] + box["height"] > height + 0.5
        ):
            wrong.append(f"{selector}: {box} outside {width}×{height}")
    return wrong


def status(page: Any, part: str = ".said") -> tuple[str, str]:
    """The status line's kind (ok, err, info) and its text without the data (<bdi>) in it: in
    the chosen language (`.said`) or, under it, in the other one (`.other`)."""
    kind, text = page.evaluate(
        """(part) => { const s = document.getElementById('status').cloneNode(true);
                   for (const b of s.querySelectorAll('bdi')) b.remove();
                   const drop = part === '.said' ? '.other' : '.said';
                   for (const o of s.querySelectorAll(drop)) o.remove();
                   return [document.getElementById('status').dataset.kind, s.textContent]; }""",
        part,
    )
    return str(kind), " ".join(str(text).split())


def message(key: str, lang: str) -> str:
    return catalogue()[key][lang]


def bare(key: str, lang: str) -> str:
    """A message as the status line shows it with its data (the <bdi>s) taken out."""
    return " ".join(re.sub(r"\{\w+\}", "", message(key, lang)).split())


def left(page: Any) -> int:
    return int(page.get_attribute("#left", "data-count") or "-1")


def wait_left(page: Any, count: int) -> None:
    page.wait_for_function(f"document.getElementById('left').dataset.count === '{count}'")


def items_of(service: Service, item_id: int) -> int:
    with service.admin() as admin:
        for q in admin.get("/api/v1/review/queue", params={"limit": 100}).json():
            if q["id"] == item_id:
                return len(q["event"]["items"])
    raise AssertionError(f"item {item_id} is not open")


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("size", DESKTOPS, ids=["1366x768", "1920x1080"])
def test_five_reviews_fit_the_screen(browser: Any, world: World, size: tuple[int, int]) -> None:
    page = open_review(browser, world.service, size)
    use_language(page, "en")
    seen = []
    for n in range(5):
        shown = settled(page)
        count = page.locator("#items .item").count()
        assert count == items_of(world.service, shown)
        seen.append(count)
        assert out_of_view(page, CONTROLS) == [], f"{size}, item {n} ({count} items)"
        # the page itself never scrolls; the list scrolls inside its panel when it must
        assert page.evaluate(
            "document.scrollingElement.scrollHeight <= innerHeight + 1 &&"
            " document.scrollingElement.scrollWidth <= innerWidth + 1"
        )
        assert page.eval_on_selector("#items", "e => getComputedStyle(e).overflowY") == "auto"
        # the bin code on one line
        assert page.eval_on_selector("#bin", "e => getComputedStyle(e).whiteSpace") == "nowrap"
        assert page.eval_on_selector("#bin", "e => e.getBoundingClientRect().height") < 30
        # every box has its number, the list the same numbers
        tags = page.eval_on_selector_all("#stage svg g.num", "gs => gs.map(g => g.dataset.n)")
        listed = page.eval_on_selector_all("#items .item .num", "ns => ns.map(n => n.textContent)")
        assert tags == listed == [str(k + 1) for k in range(count)]
        before = left(page)
        if size == DESKTOPS[0]:  # by mouse: hazardous (the battery) and confirm
            page.click("#picker button[data-code='hazardous']")
            page.click("#confirm")
        else:  # by keyboard
            page.keyboard.press("2")
            page.keyboard.press("c")
        wait_left(page, before - 1)
        kind, text = status(page)
        assert kind == "ok" and text == message("review.done.confirm", "en").format(
            verdict=message("review.verdict.contaminated", "en")
        )
    assert max(seen) == 6 and min(seen) == 1 and len(set(seen)) == 5, seen
    shot(page, f"review-{size[0]}x{size[1]}-after-five")
    page.context.close()


def test_refusals_show_in_the_chosen_language(browser: Any, world: World) -> None:
    service = world.service
    page = open_review(browser, service, DESKTOPS[0])
    for lang in ("en", "zh-CN"):
        use_language(page, lang)
        settled(page)
        before = left(page)
        # 'other' in a kitchen bin is contamination: that is no overturn; the service says no
        page.keyboard.press("4")
        page.keyboard.press("o")
        page.wait_for_function("document.getElementById('status').dataset.kind === 'err'")
        kind, said = status(page)
        assert kind == "err" and said.startswith(bare("common.refused", lang)), said
        # the service's reason, in the same language: "… which does not overturn 混投 …"
        assert message("review.verdict.contaminated", lang) in said, said
        other = "en" if lang == "zh-CN" else "zh-CN"  # and under it, in the other language
        assert status(page, ".other")[1].startswith(bare("common.refused", other))
        assert known(page.inner_text("#status .said"), lang)
        assert foreign_strings(page) == []
        assert out_of_view(page, ["#status"]) == []
        assert left(page) == before
        shot(page, f"review-refused-{lang}")
    use_language(page, "en")
    settled(page)
    # no connection: said so, nothing lost
    page.route("**/decision", lambda route: route.abort())
    page.keyboard.press("c")
    page.wait_for_function("document.getElementById('status').dataset.kind === 'err'")
    assert status(page)[1] == bare("review.offline", "en")
    page.unroute("**/decision")
    # nothing to undo yet
    page.keyboard.press("z")
    nothing = message("review.nothing_to_undo", "en")
    page.wait_for_function(f"document.querySelector('#status .said').textContent === {nothing!r}")
    # decided here, undone in another tab: this tab's undo is refused, and says why
    shown = settled(page)
    before = left(page)
    page.keyboard.press("c")
    wait_left(page, before - 1)
    token = httpx.post(
        f"{service.url}/api/v1/auth/login", json={"username": "super_k1", "password": PASSWORD}
    ).json()["token"]
    elsewhere = httpx.post(
        f"{service.url}/api/v1/review/items/{shown}/undo",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert elsewhere.status_code == 200
    page.keyboard.press("z")
    page.wait_for_function("document.getElementById('status').dataset.kind === 'err'")
    said = status(page)[1]
    assert said.startswith(bare("review.undo_refused", "en").rstrip()), said
    assert said.endswith(message("review.why.nothing_yours", "en")), said
    assert foreign_strings(page) == []
    # the item is open again: decided here once more
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert settled(page) == shown
    page.keyboard.press("c")
    page.wait_for_function("document.getElementById('status').dataset.kind === 'ok'")
    page.context.close()


def test_a_phone_reviews_by_touch(browser: Any, world: World) -> None:
    page = open_review(browser, world.service, PHONE, touch=True)
    use_language(page, "zh-CN")
    viewport = page.locator("meta[name='viewport']").get_attribute("content")
    assert viewport == "width=device-width, initial-scale=1"
    for decision in ("confirm", "overturn"):
        settled(page)
        # one column: the photo, then the items, then the buttons (they stay at the bottom of
        # the screen while it scrolls: seen in place at the end); nothing wider than the phone
        page.evaluate("scrollTo(0, document.scrollingElement.scrollHeight)")
        order = [
            page.locator(s).bounding_box() for s in ("#stage", "#items", "#picker", "#confirm")
        ]
        assert all(b is not None for b in order)
        tops = [b["y"] for b in order if b is not None]
        assert tops == sorted(tops), tops
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth + 1")
        for selector in ["#picker button", "#confirm", "#overturn", "#unclear", "#skip", "#undo"]:
            heights = page.eval_on_selector_all(
                selector, "es => es.map(e => e.getBoundingClientRect().height)"
            )
            assert heights and min(heights) >= 44, (selector, heights)
        before = left(page)
        if decision == "confirm":
            page.tap("#picker button[data-code='hazardous']")
            assert "on" in (
                page.get_attribute("#picker button[data-code='hazardous']", "class") or ""
            )
        page.tap(f"#{decision}")
        wait_left(page, before - 1)
        kind, text = status(page)
        verdict = "contaminated" if decision == "confirm" else "correct"
        assert kind == "ok"
        assert text == message(f"review.done.{decision}", "zh-CN").format(
            verdict=message(f"review.verdict.{verdict}", "zh-CN")
        )
        assert out_of_view(page, ["#status", "#confirm", "#overturn", "#unclear"]) == []
    assert foreign_strings(page) == []
    shot(page, "review-390x844-after-two")
    use_language(page, "en")  # the account's language back
    page.context.close()


def test_a_link_opens_its_item_first(browser: Any, world: World) -> None:
    service = world.service
    crowded, earlier = world.items[CROWDED], world.items[EARLIER]
    page = open_review(browser, service, DESKTOPS[0])
    use_language(page, "en")
    page.goto(f"{service.url}/review?item={crowded}")
    page.wait_for_selector("body[data-ready='1']")
    assert settled(page) == crowded
    assert status(page) == ("ok", bare("review.opened", "en"))
    assert "item=" not in page.url  # a reload goes on with the queue
    # the number tags of boxes sharing a corner do not cover each other
    tags = page.eval_on_selector_all(
        "#stage svg g.num rect",
        "rs => rs.map(r => { const b = r.getBoundingClientRect();"
        " return [b.x, b.y, b.width, b.height]; })",
    )
    assert len(tags) == 4
    for a in range(len(tags)):
        for b in range(a):
            (x1, y1, w1, h1), (x2, y2, w2, h2) = tags[a], tags[b]
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, (tags[a], tags[b])
    # two items were in the bin before: dimmed in the list and in the photo, with a legend
    page.goto(f"{service.url}/review?item={earlier}")
    page.wait_for_selector("body[data-ready='1']")
    assert settled(page) == earlier
    assert page.eval_on_selector_all(
        "#items .item", "es => es.map(e => e.classList.contains('earlier'))"
    ) == [False, False, False, True, True]
    assert (
        page.locator("#items .item.earlier .was").all_inner_texts()
        == [message("review.earlier", "en")] * 2
    )
    assert page.eval_on_selector_all("#stage svg g.num", "gs => gs.map(g => g.dataset.n)") == [
        "1",
        "2",
        "3",
    ]
    assert page.locator("#stage svg rect.dim[mask]").count() == 1
    assert page.locator("#legend").is_visible()
    assert foreign_strings(page) == []
    # an item decided meanwhile: said so, and the queue goes on
    with service.admin() as admin:
        gone = admin.get("/api/v1/review/queue", params={"limit": 100}).json()[-1]["id"]
        decided = admin.post(f"/api/v1/review/items/{gone}/decision", json={"decision": "unclear"})
        assert decided.status_code == 201
    page.goto(f"{service.url}/review?item={gone}")
    page.wait_for_selector("body[data-ready='1']")
    shown = settled(page)
    assert shown != gone
    kind, text = status(page)
    assert kind == "err" and text.startswith(bare("review.item_not_open", "en").split(":")[0]), text
    assert "is decided already" in text and "reload the queue" in text, text  # the reason, said
    assert foreign_strings(page) == []
    page.context.close()


@pytest.mark.parametrize(
    ("size", "touch"),
    [(DESKTOPS[0], False), (DESKTOPS[1], False), (PHONE, True)],
    ids=["1366x768", "1920x1080", "390x844"],
)
def test_one_language_at_a_time_with_screenshots(
    browser: Any, world: World, size: tuple[int, int], touch: bool
) -> None:
    page = open_review(browser, world.service, size, touch, query=f"?item={world.items[EARLIER]}")
    first = page.evaluate("BW.lang()")
    for lang in (first, "zh-CN" if first == "en" else "en"):
        use_language(page, lang)
        if lang != first:  # the reload went on with the queue: open the same item again
            page.goto(f"{world.service.url}/review?item={world.items[EARLIER]}")
            page.wait_for_selector("body[data-ready='1']")
        assert settled(page) == world.items[EARLIER]
        assert page.get_attribute("html", "lang") == lang
        assert foreign_strings(page) == []
        if not touch:
            assert out_of_view(page, CONTROLS) == []
        shot(page, f"review-{size[0]}x{size[1]}-{lang}")
    use_language(page, "en")
    page.context.close()
