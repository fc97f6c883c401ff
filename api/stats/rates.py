"""The sorting offices' measures from counters (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping

from api.settings import Points

COUNTERS = ("dropoffs", "identified", "correct", "contaminated", "uncertain", "empty")


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def rates(counts: Mapping[str, float]) -> dict[str, float | int | None]:
    """Accuracy rate (准确率) = correct / scored; scored = correct + contaminated (uncertain
    drop-offs are left out until reviewed, empty ones are not drop-offs of waste)."""
    c = {k: int(counts.get(k, 0) or 0) for k in COUNTERS}
    scored = c["correct"] + c["contaminated"]
    return {
        **c,
        "scored": scored,
        "accuracy": ratio(c["correct"], scored),
        "contamination": ratio(c["contaminated"], scored),
    }


def participation(participating: int, registered: int) -> float | None:
    """Participation rate (参与率): households with an identified drop-off ÷ registered ones."""
    return ratio(participating, registered)


def points(correct: int, contaminated: int, uncertain: int, rules: Points) -> int:
    return correct * rules.correct + contaminated * rules.contaminated + uncertain * rules.uncertain
