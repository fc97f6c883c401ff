"""Headless Chromium (Debian's) for the page tests, and the helpers they share."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.live import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's Chromium, offline: no sandbox (containers), no GPU, nothing fetched on its own
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "artifacts" / "screenshots"


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = None
    try:
        import playwright.sync_api as playwright
    except ImportError:
        missing = "playwright is not installed (the dev extra has it)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)"
    if missing:
        if os.environ.get("BINWATCH_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_in(browser: Any, url: str, username: str, password: str = PASSWORD) -> Any:
    """A new 1366×768 tab signed in as `username`, on that role's home page."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    home = {"super": "review", "offic": "dashboard", "engin": "models", "admin": "review"}
    page.wait_for_url(f"**/{home[username[:5]]}*")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
