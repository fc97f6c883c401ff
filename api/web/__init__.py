"""The web pages: static HTML, CSS and JavaScript shipped in the package (no build step, no
assets from the internet), served by `binwatch serve`; they talk to the API like any client."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
# The one message catalogue of the pages: every UI string, in English and Chinese, by key
MESSAGES = Path(__file__).resolve().parent / "messages.json"
LANGUAGES = ("en", "zh-CN")
PAGES = (
    "login",
    "review",
    "dashboard",
    "assessment",
    "map",
    "models",
    "appeal",
    "inspections",
    "report",
    "stations",
)

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> FileResponse:
    """The signed-in user's own page (the browser holds the session, so the page decides)."""
    return FileResponse(
        STATIC / "home.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """messages.json, checked: every key has every language (a page never shows a key)."""
    messages: dict[str, dict[str, str]] = json.loads(MESSAGES.read_text(encoding="utf-8"))
    for key, texts in messages.items():
        missing = [lang for lang in LANGUAGES if not texts.get(lang)]
        if missing:
            raise ValueError(f"{MESSAGES.name}: {key!r} lacks {', '.join(missing)}")
    return messages


@router.get("/i18n.js")
def messages_script() -> Response:
    """The catalogue as a script the pages load before their own (no second round trip)."""
    body = "const BW_MESSAGES = " + json.dumps(catalogue(), ensure_ascii=False) + ";\n"
    return Response(
        body,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/{page}")
def page(page: str) -> FileResponse:
    if page not in PAGES:
        raise HTTPException(404, f"no page {page!r}")
    return FileResponse(
        STATIC / f"{page}.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
