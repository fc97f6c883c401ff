"""How much a score on a few hundred photos can be trusted: 95 % bootstrap intervals for
category macro recall, alone and as a difference between two models on the same photos.

The resampling is stratified by category (each category's photos are drawn again from its own,
so every draw keeps the set's make-up): the interval says what a fresh set of the same size and
mix might have scored. It says nothing of training noise; two runs of one recipe can differ by
more than this (the model card shows two seeds).
"""

from __future__ import annotations

import numpy as np

DRAWS = 2000


def _strata(truth: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(truth == c) for c in np.unique(truth)]


def _draws(truth: np.ndarray, draws: int, seed: int) -> list[np.ndarray]:
    """Per category, `draws` rows of indices drawn with replacement from its own photos."""
    rng = np.random.default_rng(seed)
    return [rng.choice(rows, size=(draws, len(rows)), replace=True) for rows in _strata(truth)]


def macro_recall(right: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([right[rows].mean() for rows in _strata(truth)]))


def macro_recall_interval(
    right: np.ndarray, truth: np.ndarray, draws: int = DRAWS, seed: int = 0
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of macro recall over stratified bootstrap draws."""
    right = np.asarray(right, dtype=np.float64)
    recalls = np.stack([right[index].mean(axis=1) for index in _draws(truth, draws, seed)])
    low, high = np.percentile(recalls.mean(axis=0), [2.5, 97.5])
    return float(low), float(high)


def paired_difference(
    right_a: np.ndarray, right_b: np.ndarray, truth: np.ndarray, draws: int = DRAWS, seed: int = 0
) -> dict[str, float]:
    """Macro recall of model a minus model b on the same photos, with its 95 % interval (the
    same photos drawn for both in each draw, so what both get right or wrong cancels)."""
    a = np.asarray(right_a, dtype=np.float64)
    b = np.asarray(right_b, dtype=np.float64)
    diff = a - b
    spread = np.stack([diff[index].mean(axis=1) for index in _draws(truth, draws, seed)])
    low, high = np.percentile(spread.mean(axis=0), [2.5, 97.5])
    return {"difference": macro_recall(a, truth) - macro_recall(b, truth),
            "low": float(low), "high": float(high)}  # fmt: skip
