"""One language layer: every page a role may open, in English and in Chinese, at a desk's
1366×768 and a phone's 390×844, shows only strings from the message catalogue (data aside), and
the language a user picks goes with their account to the next browser they sign in from.
Screenshots of every page in both languages at both sizes go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import PASSWORD, Service
from tests.web.conftest import shot
from tests.web.language import foreign_strings
from tests.web.test_pages import seed

SIZES = {"desk": (1366, 768), "phone": (390, 844)}
# who opens which pages (each role's own; the admin sees the rest)
ROLES = {
    "super_k1": ["review", "dashboard", "inspections"],
    "office_s1": ["dashboard", "map", "assessment", "inspections"],
    "engineer": ["models", "stations"],
}


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, waste_v1_rows: list[dict[str, str]]
) -> Iterator[Service]:
    made = seed(tmp_path_factory.mktemp("language"), waste_v1_rows)
    yield made
    made.stop()


def _open(browser: Any, size: tuple[int, int], lang_header: str) -> Any:
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale=lang_header,
        has_touch=width < 600,
    )
    return context.new_page()


def _sign_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/")
    page.wait_for_url("**/login*")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(lambda u: "/login" not in u)


def _ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready]:not([data-ready=''])", timeout=20_000)


def _check(page: Any, name: str, lang: str) -> None:
    assert page.evaluate("document.documentElement.lang") == lang, name
    strange = foreign_strings(page)
    assert not strange, f"{name} [{lang}] shows strings outside the catalogue: {strange}"
    shot(page, name)


@pytest.mark.parametrize("size", SIZES)
def test_every_page_in_both_languages(browser: Any, service: Service, size: str) -> None:
    # the signed-out pages first: sign-in and the residents' appeal page
    page = _open(browser, SIZES[size], "en-US")
    for public in ("login", "appeal"):
        page.goto(f"{service.url}/{public}")
        _ready(page)
        _check(page, f"{public}-{size}-en", "en")
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'zh-CN'")
        _ready(page)
        _check(page, f"{public}-{size}-zh", "zh-CN")
        page.evaluate("localStorage.clear()")
    page.context.close()
    for username, pages in ROLES.items():
        page = _open(browser, SIZES[size], "en-US")
        _sign_in(page, service.url, username)
        for lang in ("en", "zh-CN"):
            for name in pages:
                page.goto(f"{service.url}/{name}")
                _ready(page)
                _check(page, f"{name}-{username}-{size}-{lang[:2]}", lang)
            # the switch, on the last page: kept with the account, so switched back at the end
            other = "zh-CN" if lang == "en" else "en"
            page.click("#lang")
            page.wait_for_function(f"document.documentElement.lang === '{other}'")
        page.context.close()


def test_the_language_goes_with_the_account(browser: Any, service: Service) -> None:
    """Chosen in one browser, used in the next: it is kept with the user, not the browser."""
    first = _open(browser, SIZES["desk"], "en-US")
    _sign_in(first, service.url, "engineer")
    _ready(first)
    assert first.evaluate("document.documentElement.lang") == "en"
    first.click("#lang")
    first.wait_for_function("document.documentElement.lang === 'zh-CN'")
    first.context.close()
    second = _open(browser, SIZES["desk"], "en-US")  # a fresh browser, English by default
    _sign_in(second, service.url, "engineer")
    _ready(second)
    assert second.evaluate("document.documentElement.lang") == "zh-CN"
    assert second.inner_text("#signout") == "退出"
    second.click("#lang")  # and back, for the other tests
    second.wait_for_function("document.documentElement.lang === 'en'")
    second.context.close()


def test_a_forbidden_page_says_so_in_both_languages(browser: Any, service: Service) -> None:
    page = _open(browser, SIZES["desk"], "en-US")
    _sign_in(page, service.url, "engineer")
    page.goto(f"{service.url}/review")
    page.wait_for_selector("body[data-ready='denied']")
    said = page.inner_text("#denied")
    assert "This page is for: admin, supervisor" in said and "督导员" in said
    _check(page, "denied-en", "en")
    page.context.close()
