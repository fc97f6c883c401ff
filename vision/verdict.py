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
    """The rule, per category:

    1. the categories outside the bin whose own probability reaches their own threshold
       offend; the item is contaminated by the most likely of them;
    2. if none does, but the probability outside the bin taken together reaches
       `thresholds.outside_threshold`, it is contaminated by the most likely outside category;
    3. otherwise it is correct when P(accepted) reaches `thresholds.correct`, else uncertain.

    So {kitchen 0.45, hazardous 0.30, recyclable 0.25} in a kitchen bin is uncertain under a
    hazardous threshold of 0.55 (0.30 is below it, and 0.55 outside is below the total's), and
    {kitchen 0.2, hazardous 0.4, recyclable 0.4} is contaminated by the total. Ties between
    outside categories go to the one named first in the category order (hazardous before
    recyclable before other before kitchen: the more harmful mistake is reported).
    """
    if not accepted:
        raise ValueError("a bin must accept at least one category")
    belongs = sum(p for c, p in category_probabilities.items() if c in accepted)
    outside = {c: p for c, p in category_probabilities.items() if c not in accepted}

    def most_likely(candidates: Mapping[Category, float]) -> Category:
        return max(candidates, key=lambda c: (candidates[c], -SEVERITY.index(c)))

    offending = {c: p for c, p in outside.items() if p >= thresholds.contamination_threshold(c)}
    if offending:
        return ItemJudgement(VerdictKind.CONTAMINATED, belongs, most_likely(offending))
    if outside and sum(outside.values()) >= thresholds.outside_threshold:
        return ItemJudgement(VerdictKind.CONTAMINATED, belongs, most_likely(outside))
    if belongs >= thresholds.correct:
        return ItemJudgement(VerdictKind.CORRECT, belongs)
    return ItemJudgement(VerdictKind.UNCERTAIN, belongs)


# which outside category a tie names: the more harmful mistake first
SEVERITY = (Category.HAZARDOUS, Category.RECYCLABLE, Category.OTHER, Category.KITCHEN)


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
