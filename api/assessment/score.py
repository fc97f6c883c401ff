"""The score of one compound-month under a scheme (pure).

Each indicator is a share in [0, 1] or missing (`lacks` says why: "not enough audits (12)",
"no reports due"). With w_i the scheme's weights and A the indicators that have data:

    score = 100 · Σ_{i∈A} w_i · v_i / Σ_{i∈A} w_i

withheld (None, with the reason) when Σ_{i∈A} w_i < min_weight_with_data · Σ_i w_i, so a compound
is never graded on a sliver of its indicators. The grade is the first of the scheme's grade bands
whose `at_least` the score reaches; each indicator's colour is the first band its value reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from api.assessment.scheme import Scheme


@dataclass(frozen=True)
class Value:
    value: float | None
    n: int | None = None  # what the value rests on (households, audits, reports, inspections)
    lacks: str | None = None  # why there is no value


@dataclass(frozen=True)
class Scored:
    key: str
    value: float | None
    n: int | None
    weight: float
    colour: str | None
    lacks: str | None


@dataclass(frozen=True)
class Assessment:
    score: float | None
    grade: str | None
    indicators: tuple[Scored, ...]
    lacking: tuple[str, ...]  # indicators without data
    reason: str | None  # why the score is withheld


def assess(values: Mapping[str, Value], scheme: Scheme) -> Assessment:
    scored = []
    for key, indicator in scheme.indicators.items():
        got = values.get(key, Value(None, lacks="not measured"))
        colour = None
        if got.value is not None:
            colour = next(b.colour for b in indicator.bands if got.value >= b.at_least)
        scored.append(Scored(key, got.value, got.n, indicator.weight, colour, got.lacks))
    total = sum(s.weight for s in scored)
    have = [s for s in scored if s.value is not None]
    weight = sum(s.weight for s in have)
    lacking = tuple(s.key for s in scored if s.value is None)
    if weight <= 0 or weight < scheme.min_weight_with_data * total - 1e-12:
        reason = f"not enough data: {', '.join(lacking)} lack data"
        return Assessment(None, None, tuple(scored), lacking, reason)
    score = 100.0 * sum(s.weight * (s.value or 0.0) for s in have) / weight
    return Assessment(score, scheme.grade(score), tuple(scored), lacking, None)
