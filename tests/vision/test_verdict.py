from __future__ import annotations

import numpy as np
import pytest

from vision.metadata import Thresholds
from vision.prediction import Prediction
from vision.taxonomy import Category, load_profile
from vision.verdict import ItemJudgement, VerdictKind, judge, judge_item

R, H, K, OT = Category.RECYCLABLE, Category.HAZARDOUS, Category.KITCHEN, Category.OTHER
KITCHEN_BIN = frozenset({K})
DOES_NOT_ROT = load_profile("rural").accepted("does_not_rot")
DEFAULT = Thresholds(correct=0.6, contaminated=0.6)
HAZARD_STRICT = Thresholds(correct=0.6, contaminated=0.8, contaminated_by_category={H: 0.55})
BATTERY_WATCH = Thresholds(correct=0.6, contaminated=0.6, contaminated_by_category={H: 0.1})
TOTAL_STRICT = Thresholds(correct=0.6, contaminated=0.6, contaminated_outside=0.75)


def probs(r: float = 0.0, h: float = 0.0, k: float = 0.0, o: float = 0.0) -> dict[Category, float]:
    assert abs(r + h + k + o - 1.0) < 1e-9
    return {R: r, H: h, K: k, OT: o}


def pred(category_probabilities: dict[Category, float]) -> Prediction:
    top = max(category_probabilities, key=lambda c: category_probabilities[c])
    return Prediction(
        label="food_waste" if top is K else "paper",
        category=top,
        confidence=category_probabilities[top],
        category_probabilities=category_probabilities,
        probabilities=np.asarray(list(category_probabilities.values()), np.float32),
    )


@pytest.mark.parametrize(
    ("p", "accepted", "thresholds", "expected"),
    [
        # confident right item
        (probs(k=0.95, o=0.05), KITCHEN_BIN, DEFAULT, ItemJudgement(VerdictKind.CORRECT, 0.95)),
        # exactly at the correct threshold counts as correct
        (probs(k=0.6, o=0.4), KITCHEN_BIN, DEFAULT, ItemJudgement(VerdictKind.CORRECT, 0.6)),
        # confident wrong item: the offending category is the most probable outside the bin
        (probs(r=0.9, k=0.1), KITCHEN_BIN, DEFAULT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.1, R)),
        # wrong mass spread over two categories still adds up to contamination
        (probs(r=0.35, o=0.3, k=0.35), KITCHEN_BIN, DEFAULT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.35, R)),
        # neither side confident: uncertain
        (probs(k=0.5, o=0.5), KITCHEN_BIN, DEFAULT, ItemJudgement(VerdictKind.UNCERTAIN, 0.5)),
        # hazardous items are flagged at a lower bar than the general one
        (probs(h=0.56, k=0.44), KITCHEN_BIN, HAZARD_STRICT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.44, H)),
        # the same spread towards recyclable stays below that category's (general) bar
        (probs(r=0.56, k=0.44), KITCHEN_BIN, HAZARD_STRICT,
         ItemJudgement(VerdictKind.UNCERTAIN, 0.44)),
        # a group bin accepts all its members: rural "does not rot"
        (probs(r=0.5, o=0.45, k=0.05), DOES_NOT_ROT, DEFAULT,
         ItemJudgement(VerdictKind.CORRECT, 0.95)),
        (probs(k=0.9, o=0.1), DOES_NOT_ROT, DEFAULT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.1, K)),
        # per category: each outside category's own probability against its own threshold.
        # P(hazardous) = 0.30 is below hazardous' 0.55 and the 0.55 outside is below the
        # total's threshold (0.8 here): uncertain, not "contaminated: hazardous"
        (probs(k=0.45, h=0.30, r=0.25), KITCHEN_BIN, HAZARD_STRICT,
         ItemJudgement(VerdictKind.UNCERTAIN, 0.45)),
        # no single category reaches its own bar, but the total outside does: the most likely
        # outside category offends (a tie names the more harmful one)
        (probs(k=0.2, h=0.4, r=0.4), KITCHEN_BIN, DEFAULT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.2, H)),
        (probs(k=0.15, r=0.45, o=0.40), KITCHEN_BIN, DEFAULT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.15, R)),
        # a low per-category bar flags on that category alone, even when another is likelier
        (probs(k=0.5, r=0.35, h=0.15), KITCHEN_BIN, BATTERY_WATCH,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.5, H)),
        # ... and is checked before `correct`
        (probs(k=0.7, h=0.12, o=0.18), KITCHEN_BIN, BATTERY_WATCH,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.7, H)),
        (probs(k=0.7, h=0.08, o=0.22), KITCHEN_BIN, BATTERY_WATCH,
         ItemJudgement(VerdictKind.CORRECT, 0.7)),
        # two categories over their own bars: the more likely one is named
        (probs(k=0.1, h=0.3, r=0.6), KITCHEN_BIN, BATTERY_WATCH,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.1, R)),
        # a separate, higher bar for the total keeps spread-out doubt uncertain
        (probs(k=0.3, r=0.35, o=0.35), KITCHEN_BIN, TOTAL_STRICT,
         ItemJudgement(VerdictKind.UNCERTAIN, 0.3)),
        (probs(k=0.2, r=0.4, o=0.4), KITCHEN_BIN, TOTAL_STRICT,
         ItemJudgement(VerdictKind.CONTAMINATED, 0.2, R)),
        # in a group bin the group's members never offend, only what is outside the group
        (probs(r=0.25, o=0.3, k=0.45), DOES_NOT_ROT, DEFAULT,
         ItemJudgement(VerdictKind.UNCERTAIN, 0.55)),
        # a bin that accepts everything can never be contaminated
        (probs(r=0.25, h=0.25, k=0.25, o=0.25), frozenset(Category), DEFAULT,
         ItemJudgement(VerdictKind.CORRECT, 1.0)),
    ],
)  # fmt: skip
def test_judge_item(
    p: dict[Category, float],
    accepted: frozenset[Category],
    thresholds: Thresholds,
    expected: ItemJudgement,
) -> None:
    got = judge_item(p, accepted, thresholds)
    assert got.kind is expected.kind
    assert got.offending is expected.offending
    assert got.belongs == pytest.approx(expected.belongs)


@pytest.mark.parametrize(
    ("items", "kind", "offending", "score"),
    [
        ([], VerdictKind.EMPTY, (), None),
        ([probs(k=0.9, o=0.1)], VerdictKind.CORRECT, (), 0.9),
        ([probs(k=0.9, o=0.1), probs(k=0.7, r=0.3)], VerdictKind.CORRECT, (), 0.7),
        ([probs(k=0.9, o=0.1), probs(k=0.5, r=0.5)], VerdictKind.UNCERTAIN, (), 0.5),
        # one confident wrong item outweighs uncertain ones
        ([probs(k=0.5, r=0.5), probs(h=0.95, k=0.05)], VerdictKind.CONTAMINATED, (H,), 0.05),
        # several offending categories are all reported, once each, sorted
        ([probs(r=0.9, k=0.1), probs(h=0.9, k=0.1), probs(r=0.8, k=0.2)],
         VerdictKind.CONTAMINATED, (H, R), 0.1),
    ],
)  # fmt: skip
def test_judge_dropoff(
    items: list[dict[Category, float]],
    kind: VerdictKind,
    offending: tuple[Category, ...],
    score: float | None,
) -> None:
    verdict = judge([pred(p) for p in items], KITCHEN_BIN, DEFAULT)
    assert verdict.kind is kind
    assert verdict.offending == offending
    assert verdict.score == (None if score is None else pytest.approx(score))
    assert len(verdict.items) == len(items)


def test_a_bin_must_accept_something() -> None:
    with pytest.raises(ValueError, match="at least one category"):
        judge_item(probs(k=1.0), frozenset(), DEFAULT)
