"""The message catalogue itself: every key in both languages, the same placeholders in each, and
every key the pages name exists (a page never shows a bare key)."""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.web.language import LANGUAGES, catalogue

STATIC = REPO / "api" / "web" / "static"


def test_every_message_has_both_languages_and_the_same_placeholders() -> None:
    for key, texts in catalogue().items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
        names = {lang: sorted(re.findall(r"\{(\w+)\}", texts[lang])) for lang in LANGUAGES}
        assert names["en"] == names["zh-CN"], f"{key}: placeholders differ {names}"


def test_every_key_a_page_names_is_in_the_catalogue() -> None:
    named: set[str] = set()
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        named.update(re.findall(r"""data-t(?:-\w+)?="([\w.]+)\"""", text))
        named.update(re.findall(r"""BW\.t\(\s*["']([\w.]*\w)["']""", text))
    missing = sorted(named - set(catalogue()))
    assert not missing, f"keys the pages use but the catalogue lacks: {missing}"
    assert len(named) > 20
