"""Judge one drop-off: the predictions of the items seen against the bin they went into.

Pure functions: no I/O, no clock. The thresholds come from the model's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from vision.metadata import Thresholds
from vision.prediction import Prediction
from vision.taxonomy import Category


class VerdictKind(StrEnum):
    CORRECT = "correct"
    CONTAMINATED = "contaminated"
    UNCERTAIN = "uncertain"
    EMPTY = "empty"


@dataclass(frozen=True)
class ItemJudgement:
    """One item: its verdict, the probability it belongs in the bin, and what it is if it
    does not (`offending` is set for contaminated items only)."""

    kind: VerdictKind
    belongs: float
    offending: Category | None = None


@dataclass(frozen=True)
class Verdict:
    """A drop-off's verdict. `score` is the probability that its least certain item belongs in
    the bin (1.0: surely sorted right, 0.0: surely wrong); None for an empty drop-off."""

    kind: VerdictKind
    offending: tuple[Category, ...]
    score: float | None
    items: tuple[ItemJudgement, ...]


def judge_item(
    category_probabilities: Mapping[Category, float],
    accepted: frozenset[Category],
    thresholds: Thresholds,
) -> ItemJudgement:
    """Contaminated when P(not in an accepted category) reaches the offending category's
    threshold, correct when P(accepted) reaches `thresholds.correct`, else uncertain."""
    if not accepted:
        raise ValueError("a bin must accept at least one category")
    belongs = sum(p for c, p in category_probabilities.items() if c in accepted)
    outside = {c: p for c, p in category_probabilities.items() if c not in accepted}
    if outside:
        worst = max(outside, key=lambda c: (outside[c], c.value))
        if sum(outside.values()) >= thresholds.contamination_threshold(worst):
            return ItemJudgement(VerdictKind.CONTAMINATED, belongs, worst)
    if belongs >= thresholds.correct:
        return ItemJudgement(VerdictKind.CORRECT, belongs)
    return ItemJudgement(VerdictKind.UNCERTAIN, belongs)


def judge(
    predictions: Sequence[Prediction],
    accepted: frozenset[Category],
    thresholds: Thresholds,
) -> Verdict:
    """The verdict for a drop-off into a bin that accepts `accepted` (see Profile.accepted).

    Any contaminated item makes the drop-off contaminated; otherwise any uncertain item makes it
    uncertain; otherwise it is correct. No items: empty.
    """
    if not predictions:
        return Verdict(VerdictKind.EMPTY, (), None, ())
    items = tuple(judge_item(p.category_probabilities, accepted, thresholds) for p in predictions)
    kinds = {item.kind for item in items}
    offending = tuple(sorted({i.offending for i in items if i.offending is not None}))
    if VerdictKind.CONTAMINATED in kinds:
        kind = VerdictKind.CONTAMINATED
    elif VerdictKind.UNCERTAIN in kinds:
        kind = VerdictKind.UNCERTAIN
    else:
        kind = VerdictKind.CORRECT
    return Verdict(kind, offending, min(item.belongs for item in items), items)
