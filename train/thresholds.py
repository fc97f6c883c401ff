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


def choose_background_threshold(
    items: np.ndarray, empty: np.ndarray, max_item_drop: float = 0.01
) -> tuple[float, dict[str, float]]:
    """P(background) threshold: the lowest on the grid (0.5 and up) that drops at most
    `max_item_drop` of the real items (`items`: their P(background)); lower thresholds reject
    more empty crops (`empty`), so the lowest that spares the items is the one that rejects most.
    Returns the threshold and what it does on these crops."""
    chosen = float(GRID[-1])
    for t in np.round(np.arange(0.5, 0.991, 0.01), 2):
        if (items >= t).mean() <= max_item_drop:
            chosen = float(t)
            break
    return chosen, {
        "items_dropped": float((items >= chosen).mean()) if len(items) else float("nan"),
        "empty_rejected": float((empty >= chosen).mean()) if len(empty) else float("nan"),
    }
