"""The web pages: static HTML, CSS and JavaScript shipped in the package (no build step, no
assets from the internet), served by `binwatch serve`; they talk to the API like any client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
PAGES = ("login", "review", "dashboard", "assessment", "map", "models", "appeal", "inspections")

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> FileResponse:
    """The signed-in user's own page (the browser holds the session, so the page decides)."""
    return FileResponse(
        STATIC / "home.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
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
