"""The categories with their names and colours under a profile (for pages and devices)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.schemas import CategoryInfo
from vision.errors import TaxonomyError
from vision.taxonomy import BUILTIN_PROFILES, Category, load_profile

router = APIRouter(tags=["taxonomy"])


@router.get("/taxonomy", response_model=list[CategoryInfo])
def taxonomy(profile: str = "national") -> list[CategoryInfo]:
    if profile not in BUILTIN_PROFILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown profile {profile!r}")
    try:
        chosen = load_profile(profile)
    except TaxonomyError as exc:  # pragma: no cover - built-in profiles load
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from None
    out = []
    for category in Category:
        names = chosen.names(category.value)
        out.append(
            CategoryInfo(
                code=category.value,
                zh=names.zh,
                en=names.en,
                colour=category.colour,
                hex=category.hex,
            )
        )
    return out
