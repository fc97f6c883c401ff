"""The four categories, the fine item labels, and taxonomy profiles that map labels to bins.

The model names items (`battery`, `food_waste`, ...); a profile says which category each item
belongs to in a given place, what the categories are called there, and which bins exist
(a category, or a group of categories such as the rural `does_not_rot`). A rule change is a
profile change, never a retrain.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vision.errors import TaxonomyError, describe_validation_error

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
Code = Annotated[str, Field(pattern=CODE_PATTERN)]


class Category(StrEnum):
    """The four categories of GB/T 19095-2019. Statistics are always kept in these."""

    RECYCLABLE = "recyclable"
    HAZARDOUS = "hazardous"
    KITCHEN = "kitchen"
    OTHER = "other"

    @property
    def zh(self) -> str:
        """The national standard's Chinese name."""
        return _CATEGORY_INFO[self][0]

    @property
    def colour(self) -> str:
        """The bin colour's name."""
        return _CATEGORY_INFO[self][1]

    @property
    def hex(self) -> str:
        """The bin colour for charts and pages."""
        return _CATEGORY_INFO[self][2]


CATEGORY_CODES = frozenset(c.value for c in Category)

_CATEGORY_INFO: dict[Category, tuple[str, str, str]] = {
    Category.RECYCLABLE: ("可回收物", "blue", "#1f6fb5"),
    Category.HAZARDOUS: ("有害垃圾", "red", "#d0312d"),
    Category.KITCHEN: ("厨余垃圾", "green", "#2e8b3d"),
    Category.OTHER: ("其他垃圾", "grey", "#6b6b6b"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    zh: str = Field(min_length=1, description="Chinese name")
    en: str = Field(min_length=1, description="English name")


class LabelInfo(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    examples: tuple[str, ...] = ()


class _Catalog(_Strict):
    labels: dict[Code, LabelInfo] = Field(min_length=1)


@functools.cache
def label_catalog() -> Mapping[str, LabelInfo]:
    """Every fine label binwatch knows, in catalog order."""
    text = resources.files("vision").joinpath("data/labels.yaml").read_text(encoding="utf-8")
    try:
        return _Catalog.model_validate(yaml.safe_load(text)).labels
    except ValidationError as exc:  # a packaging mistake, but say what it is
        raise TaxonomyError(f"labels.yaml: {describe_validation_error(exc)}") from exc


def check_labels(labels: Iterable[str]) -> None:
    """Raise TaxonomyError naming every label that is not in the catalog."""
    unknown = [label for label in labels if label not in label_catalog()]
    if unknown:
        raise TaxonomyError(f"unknown fine label(s): {', '.join(unknown)}")


class Group(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    members: tuple[Category, ...] = Field(min_length=2)


class ProfileSpec(_Strict):
    """A profile as written in its YAML file."""

    name: Code
    title: Names
    categories: dict[Category, Names]
    groups: dict[Code, Group] = {}
    passes: tuple[tuple[Code, ...], ...] = Field(min_length=1)
    labels: dict[str, Category]

    @model_validator(mode="after")
    def _consistent(self) -> ProfileSpec:
        missing_cats = [c.value for c in Category if c not in self.categories]
        if missing_cats:
            raise ValueError(f"categories: missing {', '.join(missing_cats)}")
        clash = [g for g in self.groups if g in CATEGORY_CODES]
        if clash:
            raise ValueError(f"groups: {', '.join(clash)} reuse a category code")
        for group in self.groups.values():
            if len(set(group.members)) != len(group.members):
                raise ValueError(f"groups: {group.en} lists a member twice")
        for number, bins in enumerate(self.passes, start=1):
            covered: list[Category] = []
            for code in bins:
                covered.extend(self._members(code, f"passes[{number}]"))
            if sorted(covered) != sorted(Category):
                raise ValueError(
                    f"passes[{number}]: bins {list(bins)} must split the four categories "
                    f"exactly once each, they cover {sorted(c.value for c in covered)}"
                )
        return self

    def _members(self, code: str, where: str) -> tuple[Category, ...]:
        if code in CATEGORY_CODES:
            return (Category(code),)
        if code in self.groups:
            return self.groups[code].members
        raise ValueError(f"{where}: unknown bin {code!r}")


@dataclass(frozen=True)
class Profile:
    """A validated taxonomy profile: label → category, category and group names, bins."""

    spec: ProfileSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def bins(self) -> tuple[str, ...]:
        """Every bin code a station may have under this profile: categories, then groups."""
        return tuple(c.value for c in Category) + tuple(self.spec.groups)

    def category_of(self, label: str) -> Category:
        try:
            return self.spec.labels[label]
        except KeyError:
            raise TaxonomyError(f"profile {self.name}: unknown fine label {label!r}") from None

    def accepted(self, bin_code: str) -> frozenset[Category]:
        """The categories that belong in a bin (a category code, or a group of this profile)."""
        if bin_code in CATEGORY_CODES:
            return frozenset({Category(bin_code)})
        if bin_code in self.spec.groups:
            return frozenset(self.spec.groups[bin_code].members)
        raise TaxonomyError(
            f"profile {self.name}: unknown bin {bin_code!r} (one of: {', '.join(self.bins)})"
        )

    def resolve_bin(self, name: str) -> str:
        """A bin code from its code or its local Chinese or English name."""
        wanted = name.strip().casefold()
        for code in self.bins:
            names = self.names(code)
            if wanted in (code, names.zh.casefold(), names.en.casefold()):
                return code
        raise TaxonomyError(
            f"profile {self.name}: unknown bin {name!r} (one of: {', '.join(self.bins)})"
        )

    def names(self, bin_code: str) -> Names:
        """The local names of a category or group."""
        if bin_code in CATEGORY_CODES:
            return self.spec.categories[Category(bin_code)]
        if bin_code in self.spec.groups:
            group = self.spec.groups[bin_code]
            return Names(zh=group.zh, en=group.en)
        raise TaxonomyError(f"profile {self.name}: unknown bin {bin_code!r}")


BUILTIN_PROFILES = ("national", "shanghai", "rural")
DEFAULT_PROFILE = "national"


def parse_profile(data: Any, source: str) -> Profile:
    """Validate a profile's data against the label catalog; errors name the source and labels."""
    try:
        spec = ProfileSpec.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyError(f"{source}: {describe_validation_error(exc)}") from exc
    catalog = label_catalog()
    unknown = [label for label in spec.labels if label not in catalog]
    if unknown:
        raise TaxonomyError(f"{source}: unknown fine label(s): {', '.join(unknown)}")
    unmapped = [label for label in catalog if label not in spec.labels]
    if unmapped:
        raise TaxonomyError(f"{source}: fine label(s) without a category: {', '.join(unmapped)}")
    return Profile(spec)


@functools.cache
def _builtin(name: str) -> Profile:
    path = f"data/profiles/{name}.yaml"
    text = resources.files("vision").joinpath(path).read_text(encoding="utf-8")
    return parse_profile(yaml.safe_load(text), f"profile {name}")


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """A built-in profile by name (`national`, `shanghai`, `rural`) or a profile YAML file."""
    if str(name_or_path) in BUILTIN_PROFILES:
        return _builtin(str(name_or_path))
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise TaxonomyError(
            f"unknown profile {str(name_or_path)!r}: use one of {', '.join(BUILTIN_PROFILES)} "
            "or a path to a .yaml profile file"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"cannot read profile {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    return parse_profile(data, str(path))
