"""What one drop-off adds to the counters of its hour, compound and bin category (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

VERDICT_COLUMNS = {"correct", "contaminated", "uncertain", "empty"}


@dataclass(frozen=True)
class Dropoff:
    verdict: str  # the final one: the latest review's, else the model's
    model_verdict: str
    identified: bool
    weight_kg: float | None = None


def rollup_counts(d: Dropoff) -> Counter[str]:
    """Counters of the `rollups` table for one drop-off."""
    counts: Counter[str] = Counter(dropoffs=1)
    if d.identified:
        counts["identified"] = 1
    counts[d.verdict] += 1
    if d.model_verdict in ("correct", "contaminated"):
        counts[f"model_{d.model_verdict}"] += 1
    return counts


def rollup_weights(d: Dropoff) -> dict[str, float]:
    weights: dict[str, float] = {}
    if d.weight_kg and d.verdict in ("correct", "contaminated"):
        weights["weight_kg"] = d.weight_kg
        if d.verdict == "correct":
            weights["correct_weight_kg"] = d.weight_kg
    return weights


def household_counts(verdict: str, reviewed: bool = False) -> Counter[str]:
    """One drop-off's share of its household's day; `confirmed` when a review says
    contaminated (a deduction that stands)."""
    counts: Counter[str] = Counter(dropoffs=1)
    if verdict in ("correct", "contaminated", "uncertain"):
        counts[verdict] += 1
    if reviewed and verdict == "contaminated":
        counts["confirmed"] += 1
    return counts


def difference(new: Counter[str], old: Counter[str]) -> dict[str, float]:
    """new - old, keeping negative entries (Counter subtraction would drop them)."""
    keys = set(new) | set(old)
    return {k: new[k] - old[k] for k in keys if new[k] != old[k]}
