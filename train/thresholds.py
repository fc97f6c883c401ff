"""Choose verdict thresholds on the validation split. Pure numpy."""

from __future__ import annotations

import numpy as np

from vision.metadata import Thresholds

GRID = np.round(np.arange(0.51, 0.991, 0.01), 2)


def choose_thresholds(
    category_probs: np.ndarray,
    truth: np.ndarray,
    flag_precision: float = 0.97,
    correct_precision: float = 0.995,
) -> Thresholds:
    """Every image is dropped into every bin. `contaminated` is the lowest threshold whose flags
    reach `flag_precision`; `correct` the lowest whose `correct` calls reach
    `correct_precision`. Lower thresholds flag more, so the lowest that is precise enough is
    the one with the best recall."""
    n, bins = category_probs.shape
    belongs = category_probs.reshape(n, bins)  # P(item belongs in bin b) = p[item, b]
    wrong = truth[:, None] != np.arange(bins)[None, :]
    contaminated = _lowest(1 - belongs, wrong, flag_precision)
    correct = _lowest(belongs, ~wrong, correct_precision)
    return Thresholds(correct=correct, contaminated=contaminated)


def _lowest(score: np.ndarray, positive: np.ndarray, precision: float) -> float:
    for t in GRID:
        called = score >= t
        if called.any() and (positive & called).sum() / called.sum() >= precision:
            return float(t)
    return float(GRID[-1])
