"""The categories with their names and colours under a profile (for pages and devices)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from api.schemas import CategoryInfo, LabelPublic
from vision.errors import TaxonomyError
from vision.metadata import BACKGROUND
from vision.taxonomy import BUILTIN_PROFILES, Category, label_catalog, load_profile

router = APIRouter(tags=["taxonomy"])


class ProfileBin(BaseModel):
    code: str
    zh: str
    en: str


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


@router.get("/taxonomy/labels", response_model=list[LabelPublic])
def labels(profile: str = "national") -> list[LabelPublic]:
    """The fine labels a reviewer can name, with their category under the profile, and last
    `background` (no item: a hand, a shadow, an empty floor), which has no category."""
    if profile not in BUILTIN_PROFILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown profile {profile!r}")
    chosen = load_profile(profile)
    return [
        *(
            LabelPublic(code=code, zh=info.zh, en=info.en, category=chosen.category_of(code).value)
            for code, info in label_catalog().items()
        ),
        LabelPublic(code=BACKGROUND, zh="无物品", en="no item", category=None),
    ]


@router.get("/taxonomy/bins", response_model=list[ProfileBin])
def profile_bins(profile: str = "national") -> list[ProfileBin]:
    """The bins a station of this profile may have: categories or the profile's groups."""
    if profile not in BUILTIN_PROFILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown profile {profile!r}")
    chosen = load_profile(profile)
    return [ProfileBin(code=c, zh=chosen.names(c).zh, en=chosen.names(c).en) for c in chosen.bins]
