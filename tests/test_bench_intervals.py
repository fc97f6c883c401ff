"""bench.intervals: bootstrap intervals for macro recall, alone and paired."""

from __future__ import annotations

import numpy as np

from bench.intervals import macro_recall, macro_recall_interval, paired_difference


def answers(
    n_per: tuple[int, ...], rate: tuple[float, ...], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.concatenate([np.full(n, c) for c, n in enumerate(n_per)])
    right = np.concatenate([rng.random(n) < r for n, r in zip(n_per, rate, strict=True)])
    return right, truth


def test_the_interval_holds_the_estimate_and_narrows_with_more_photos() -> None:
    small = answers((35, 150, 100, 115), (0.8, 0.95, 0.95, 0.95), 1)
    large = answers((350, 1500, 1000, 1150), (0.8, 0.95, 0.95, 0.95), 1)
    for right, truth in (small, large):
        low, high = macro_recall_interval(right, truth)
        assert low <= macro_recall(right, truth) <= high
    low_small, high_small = macro_recall_interval(*small)
    low_large, high_large = macro_recall_interval(*large)
    width_small, width_large = high_small - low_small, high_large - low_large
    assert width_large < width_small / 2  # ten times the photos: about a third the width


def test_a_small_category_dominates_the_uncertainty() -> None:
    """Macro recall weighs each category alike: 35 photos of one category make the interval
    wide however many the others have (the simulator's `other`)."""
    right, truth = answers((35, 1500, 1000, 1150), (0.8, 0.95, 0.95, 0.95), 2)
    low, high = macro_recall_interval(right, truth)
    assert high - low > 0.05


def test_the_paired_difference_is_exact_for_the_same_answers_and_signed() -> None:
    right, truth = answers((40, 60, 50, 45), (0.8, 0.9, 0.95, 0.7), 3)
    same = paired_difference(right, right, truth)
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}
    better = right.copy()
    better[truth == 0] = True  # a model that also gets every photo of category 0 right
    gain = paired_difference(better, right, truth)
    assert gain["difference"] > 0 and gain["low"] > 0
    assert gain["low"] <= gain["difference"] <= gain["high"]
    loss = paired_difference(right, better, truth)
    assert np.isclose(loss["difference"], -gain["difference"]) and loss["high"] < 0
