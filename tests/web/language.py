"""The language check: every visible UI string on a page must come from the one message
catalogue (api/web/messages.json) in the language of where it stands (the nearest `lang`
attribute; the page sets <html lang> to the chosen language). Data is exempt: text inside <bdi>
or an element marked `data-d` (place names, usernames, labels, category names from profiles,
messages the service wrote), and text without letters (numbers, dates, percentages)."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from tests.conftest import REPO

CATALOGUE = REPO / "api" / "web" / "messages.json"
LANGUAGES = ("en", "zh-CN")

# what a person sees: text nodes in laid-out, visible elements; a closed <select> shows only
# its chosen option; inputs show their placeholder until typed in
COLLECT = """() => {
  const seen = [];
  const shown = el => {
    if (!el || el.closest("script,style,template,[hidden]")) return false;
    if (!el.getClientRects().length) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && style.display !== "none" && style.opacity !== "0";
  };
  const exempt = el => Boolean(el.closest("bdi,[data-d]"));
  const langOf = el => (el.closest("[lang]") || document.documentElement).getAttribute("lang");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest("select") || exempt(el) || !shown(el)) continue;
    seen.push([langOf(el), node.textContent, el.tagName.toLowerCase()]);
  }
  for (const select of document.querySelectorAll("select")) {
    const option = select.selectedOptions[0];
    if (option && shown(select) && !exempt(option)) {
      seen.push([langOf(option), option.textContent, "option"]);
    }
  }
  for (const input of document.querySelectorAll("input[placeholder],textarea[placeholder]")) {
    if (shown(input) && !input.value && !exempt(input)) {
      seen.push([langOf(input), input.placeholder, "placeholder"]);
    }
  }
  return seen;
}"""

LETTER = re.compile(r"[^\W\d_]")
EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def _squash(text: str) -> str:
    return " ".join(text.split())


@cache
def catalogue() -> dict[str, dict[str, str]]:
    messages: dict[str, dict[str, str]] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return messages


@cache
def _matchers(lang: str) -> tuple[tuple[re.Pattern[str], ...], frozenset[str]]:
    """Each message as a pattern ({name} matches anything) and its literal pieces (the text
    nodes around a placeholder filled with an element)."""
    patterns: list[re.Pattern[str]] = []
    pieces: set[str] = set()
    for texts in catalogue().values():
        text = _squash(texts[lang])
        parts = re.split(r"\{\w+\}", text)
        patterns.append(re.compile(r"[\s\S]*?".join(re.escape(p) for p in parts)))
        pieces.update(EDGES.sub("", p) for p in parts if LETTER.search(p))
    return tuple(patterns), frozenset(pieces)


def known(text: str, lang: str) -> bool:
    """A catalogue message (placeholders filled with anything) or a literal piece of one;
    separators, numbers and brackets around it ("· ", " (", "3 ") are layout, not words."""
    text = _squash(text)
    if not LETTER.search(text):
        return True
    patterns, pieces = _matchers(lang)
    bare = EDGES.sub("", text)
    return (
        text in pieces
        or bare in pieces
        or any(p.fullmatch(text) or p.fullmatch(bare) for p in patterns)
    )


def foreign_strings(page: Any) -> list[str]:
    """Visible strings not in the catalogue for the language they stand in: [] on a good page."""
    found = []
    for lang, text, tag in page.evaluate(COLLECT):
        if lang not in LANGUAGES:
            found.append(f"<{tag}> in unknown language {lang!r}: {_squash(text)!r}")
        elif not known(text, lang):
            found.append(f"<{tag}> [{lang}] {_squash(text)!r}")
    return found
