"""A street's assessment scheme (考核方案) as data: indicators with weights and colour bands,
grade bands for the score, and the street's choices (the points appeal window).

The scheme is YAML, validated here; a street without its own uses `default.yaml` shipped in the
package. Errors name the path of each mistake (`indicators.participation.weight: ...`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

IndicatorName = Literal[
    "participation", "corrected_accuracy", "kitchen_purity", "reports_handled", "inspections"
]
INDICATORS: tuple[IndicatorName, ...] = (
    "participation",
    "corrected_accuracy",
    "kitchen_purity",
    "reports_handled",
    "inspections",
)
InspectionKind = Literal["guidance", "undercover"]


class SchemeError(ValueError):
    """A scheme that cannot be used; the message lists every mistake with its path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    at_least: float = Field(ge=0.0, le=1.0)
    colour: Literal["green", "yellow", "red"]


class Indicator(_Strict):
    weight: float = Field(ge=0.0, le=1000.0)
    bands: tuple[Band, ...] = Field(min_length=1)
    within_days: int | None = Field(None, ge=1, le=90, description="reports_handled only")
    per_month: dict[InspectionKind, int] | None = Field(None, description="inspections only")

    @model_validator(mode="after")
    def _bands_descend(self) -> Indicator:
        levels = [b.at_least for b in self.bands]
        if levels != sorted(levels, reverse=True) or levels[-1] != 0:
            raise ValueError("bands go from the highest `at_least` down to one at 0")
        return self


class Grade(_Strict):
    at_least: float = Field(ge=0.0, le=100.0)
    name: str = Field(min_length=1, max_length=40)


class Scheme(_Strict):
    name: str = Field(min_length=1, max_length=200)
    indicators: dict[IndicatorName, Indicator] = Field(min_length=1)
    grades: tuple[Grade, ...] = Field(min_length=1)
    min_weight_with_data: float = Field(0.6, gt=0.0, le=1.0)
    appeal_window_days: int | None = Field(None, ge=1, le=365)

    @model_validator(mode="after")
    def _consistent(self) -> Scheme:
        if sum(i.weight for i in self.indicators.values()) <= 0:
            raise ValueError("the indicators' weights add up to nothing")
        levels = [g.at_least for g in self.grades]
        if levels != sorted(levels, reverse=True) or levels[-1] != 0:
            raise ValueError("grades go from the highest `at_least` down to one at 0")
        reports = self.indicators.get("reports_handled")
        if reports is not None and reports.within_days is None:
            raise ValueError("indicators.reports_handled needs `within_days`")
        inspections = self.indicators.get("inspections")
        if inspections is not None and not inspections.per_month:
            raise ValueError("indicators.inspections needs `per_month` (guidance, undercover)")
        return self

    def grade(self, score: float) -> str:
        return next(g.name for g in self.grades if score >= g.at_least)


def parse(text: str) -> Scheme:
    """A scheme from YAML text, or SchemeError naming every mistake with its path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemeError(f"not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SchemeError("a scheme is a YAML mapping (name, indicators, grades, ...)")
    try:
        return Scheme.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'scheme'}: {e['msg']}" for e in exc.errors()
        ]
        raise SchemeError("; ".join(problems)) from None


def default_text() -> str:
    return resources.files("api.assessment").joinpath("default.yaml").read_text("utf-8")


@cache
def default_scheme() -> Scheme:
    return parse(default_text())
