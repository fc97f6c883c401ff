"""The login page's `next` goes only to a path on this site: a link to
`/login?next=//evil.example/phish` must not carry a supervisor off to a phishing page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.live import PASSWORD, Service, prepare_service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    made = prepare_service(tmp_path)
    made.start()
    yield made
    made.stop()


def sign_in_with(browser: Any, service: Service, next_value: str, encoded: bool = True) -> str:
    page = browser.new_page()
    # requests that leave the site are refused, and recorded, rather than sent
    left: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(service.url):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    query = quote(next_value, safe="") if encoded else next_value
    page.goto(f"{service.url}/login?next={query}")
    page.fill("#username", "root")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url or bool(left), timeout=10_000)
    page.wait_for_load_state()
    url = str(page.url)
    page.close()
    assert not left, f"sign-in with next={next_value!r} went to {left}"
    return url


@pytest.mark.parametrize(
    ("next_value", "encoded"),
    [
        ("//evil.example/phish", True),
        ("//evil.example/phish", False),
        ("/\\evil.example/phish", True),
        ("/\\evil.example/phish", False),
        ("https://evil.example/phish", True),
        ("/\t/evil.example/phish", True),
        ("%2F%2Fevil.example/phish", False),
        ("javascript:alert(1)", True),
    ],
)
def test_next_off_the_site_is_ignored(
    browser: Any, service: Service, next_value: str, encoded: bool
) -> None:
    url = sign_in_with(browser, service, next_value, encoded)
    assert url.startswith(service.url) and urlsplit(url).path == "/review", url


def test_next_on_the_site_is_followed(browser: Any, service: Service) -> None:
    url = sign_in_with(browser, service, "/models?from=link")
    assert urlsplit(url).path == "/models" and urlsplit(url).query == "from=link", url


def _sign_in(page: Any, service: Service, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)


def test_each_role_lands_where_it_works(browser: Any, service: Service) -> None:
    with service.admin() as admin:
        for name, role, scope in (("office1", "office", ["S1"]), ("engineer1", "engineer", [])):
            made = admin.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                                     "role": role, "scope": scope})  # fmt: skip
            assert made.status_code == 201, made.text
    # "/" with nobody signed in: sign-in, then the role's own page
    page = browser.new_page()
    page.goto(f"{service.url}/")
    page.wait_for_url("**/login")
    _sign_in(page, service, "engineer1")
    assert urlsplit(page.url).path == "/models"
    page.close()
    # a link to a page the role may not open: `next` is dropped, the role's page opens
    page = browser.new_page()
    page.goto(f"{service.url}/login?next={quote('/review')}")
    _sign_in(page, service, "office1")
    assert urlsplit(page.url).path == "/dashboard"
    # signed in, "/" goes to the same page
    page.goto(f"{service.url}/")
    page.wait_for_url("**/dashboard")
    # opened anyway: the page says so in both languages, and asks the API for nothing it refuses
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
    page.goto(f"{service.url}/review")
    page.wait_for_selector("body[data-ready='denied']")
    text = page.inner_text("#denied")
    assert "This page is for: admin, supervisor" in text and "此页面仅限" in text, text
    assert page.get_attribute("#denied a", "href") == "/dashboard"
    links = page.eval_on_selector_all("header.bar a", "links => links.map(a => a.pathname)")
    assert "/review" not in links and "/models" not in links and "/dashboard" in links
    assert not refused, refused
    page.close()
