"""Choose verdict thresholds on the validation split, and count what they do. Pure: numpy and
the verdict rule."""

from __future__ import annotations

import numpy as np

from vision.metadata import Thresholds
from vision.taxonomy import Category
from vision.verdict import VerdictKind, judge_item

# 0.51 to 0.99 by hundredths, then to 0.999 by thousandths: at a low contamination rate the
# flag threshold can need more than 0.99
GRID = np.round(np.concatenate([np.arange(0.51, 0.985, 0.01), np.arange(0.99, 0.9995, 0.001)]), 3)
# the contamination rate `binwatch export` and `binwatch retrain` choose flags at: a tenth of
# drops wrong (at three in four, as every item dropped into every bin counts them, a model that
# flags 5 % of right drops still reaches 98 % precision; at a tenth, 69 %: models/README.md)
CONTAMINATION_RATE = 0.1


def choose_thresholds(
    category_probs: np.ndarray,
    truth: np.ndarray,
    flag_precision: float = 0.97,
    correct_precision: float = 0.995,
    contamination_rate: float | None = None,
) -> Thresholds:
    """Every image is dropped into every bin. `contaminated` is the lowest threshold whose flags
    reach `flag_precision`; `correct` the lowest whose `correct` calls reach
    `correct_precision`. Lower thresholds flag more, so the lowest that is precise enough is
    the one with the best recall.

    `contamination_rate`: the flags' precision is counted as if that share of drops were wrong
    (each item's wrong bins sharing its wrong drops equally), not three in four as the drops
    into every bin are; a station where few drops are wrong needs a higher threshold for the
    same precision. `correct` is always counted at three wrong drops in four, so that calling
    a wrong drop correct stays as rare as it was (a missed flag is not reviewed)."""
    n, bins = category_probs.shape
    belongs = category_probs.reshape(n, bins)  # P(item belongs in bin b) = p[item, b]
    wrong = truth[:, None] != np.arange(bins)[None, :]
    weight = None if contamination_rate is None else at_rate(wrong, contamination_rate)
    contaminated = _lowest(1 - belongs, wrong, flag_precision, weight)
    correct = _lowest(belongs, ~wrong, correct_precision)
    return Thresholds(correct=correct, contaminated=contaminated)


def at_rate(wrong: np.ndarray, rate: float) -> np.ndarray:
    """Weights that make the wrong drops `rate` of all drops, and the right ones the rest."""
    if not 0 < rate < 1:
        raise ValueError(f"a contamination rate is between 0 and 1, not {rate}")
    if wrong.all() or not wrong.any():
        raise ValueError("weighing drops at a contamination rate needs right and wrong drops")
    weights: np.ndarray = np.where(wrong, rate / wrong.sum(), (1 - rate) / (~wrong).sum())
    return weights


def _lowest(
    score: np.ndarray, positive: np.ndarray, precision: float, weight: np.ndarray | None = None
) -> float:
    w = np.ones(score.shape) if weight is None else weight
    for t in GRID:
        called = score >= t
        if called.any() and (w * (positive & called)).sum() / (w * called).sum() >= precision:
            return float(t)
    return float(GRID[-1])


def judge_drops(category_probs: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Every item dropped into every bin, each bin taking one category (the columns' order):
    the verdict rule's kind (`vision.verdict.judge_item`) per item and bin, N×bins."""
    cats = list(Category)[: category_probs.shape[1]]
    return np.array([
        [judge_item(dict(zip(cats, row, strict=True)), frozenset({c}), thresholds).kind
         for c in cats]
        for row in category_probs
    ]).reshape(category_probs.shape)  # fmt: skip


def threshold_effect(
    category_probs: np.ndarray, truth: np.ndarray, thresholds: Thresholds, rate: float
) -> dict[str, float]:
    """What thresholds do with every item dropped into every bin (`judge_drops`): the share of
    right drops flagged (false flags) and left `uncertain`, the share of wrong drops flagged,
    left `uncertain` and called `correct` (missed), and the flags' precision where `rate` of
    drops are wrong."""
    wrong = truth[:, None] != np.arange(category_probs.shape[1])[None, :]
    kinds = judge_drops(category_probs, thresholds)
    flagged = kinds == VerdictKind.CONTAMINATED
    correct, uncertain = kinds == VerdictKind.CORRECT, kinds == VerdictKind.UNCERTAIN
    false_flags, caught = float(flagged[~wrong].mean()), float(flagged[wrong].mean())
    called = rate * caught + (1 - rate) * false_flags
    return {
        "right_flagged": false_flags,
        "right_uncertain": float(uncertain[~wrong].mean()),
        "wrong_flagged": caught,
        "wrong_uncertain": float(uncertain[wrong].mean()),
        "wrong_called_correct": float(correct[wrong].mean()),
        "flag_precision_at_rate": rate * caught / called if called else float("nan"),
    }


def choose_background_threshold(
    items: np.ndarray, empty: np.ndarray, max_item_drop: float = 0.01
) -> tuple[float, dict[str, float]]:
    """P(background) threshold: the lowest on the grid (0.5 and up) that drops at most
    `max_item_drop` of the real items (`items`: their P(background)); lower thresholds reject
    more empty crops (`empty`), so the lowest that spares the items is the one that rejects most.
    Returns the threshold and what it does on these crops."""
    chosen = 0.99
    for t in np.round(np.arange(0.5, 0.991, 0.01), 2):
        if (items >= t).mean() <= max_item_drop:
            chosen = float(t)
            break
    return chosen, {
        "items_dropped": float((items >= chosen).mean()) if len(items) else float("nan"),
        "empty_rejected": float((empty >= chosen).mean()) if len(empty) else float("nan"),
    }
