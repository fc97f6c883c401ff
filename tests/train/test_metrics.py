from __future__ import annotations

import numpy as np
import pytest

from train.metrics import (
    confusion,
    expected_calibration_error,
    fit_temperature,
    flag_scores,
    softmax,
    summary,
)
from train.thresholds import choose_thresholds


def test_confusion_and_summary() -> None:
    truth = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 1, 1]
    assert confusion(truth, predicted, 3).tolist() == [[2, 1, 0], [0, 2, 0], [0, 1, 0]]
    s = summary(truth, predicted, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["macro_recall"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert s["per_class"]["b"] == {"precision": 0.5, "recall": 1.0, "support": 2}
    assert s["per_class"]["c"]["precision"] is None  # never predicted


@pytest.mark.parametrize(
    ("probs", "truth", "ece"),
    [
        ([[0.9, 0.1]] * 10, [0] * 9 + [1], 0.0),  # 90 % confident, 90 % right
        ([[0.9, 0.1]] * 10, [0] * 5 + [1] * 5, 0.4),  # 90 % confident, 50 % right
        ([[0.6, 0.4]] * 4 + [[0.95, 0.05]] * 4, [0, 0, 1, 1, 0, 0, 0, 0], 0.5 * 0.1 + 0.5 * 0.05),
    ],
)
def test_expected_calibration_error(probs: list[list[float]], truth: list[int], ece: float) -> None:
    got, table = expected_calibration_error(probs, truth)
    assert got == pytest.approx(ece)
    assert sum(row["count"] for row in table) == len(truth)


def test_fit_temperature_recovers_the_generating_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 5))
    true_probs = softmax(logits, 2.5)
    truth = np.array([rng.choice(5, p=p) for p in true_probs])
    assert fit_temperature(logits, truth) == pytest.approx(2.5, rel=0.1)


def test_flag_scores() -> None:
    flagged = [True, True, False, False, True]
    wrong = [True, False, True, False, True]
    assert flag_scores(flagged, wrong) == {
        "precision": 2 / 3, "recall": 2 / 3, "flagged": 3, "wrong": 3
    }  # fmt: skip


def test_thresholds_are_the_lowest_precise_enough() -> None:
    # item 0 is kitchen and sure, item 1 is kitchen at 0.7, item 2 is recyclable at 0.8
    cat = np.array([[0.0, 0.0, 1.0, 0.0], [0.3, 0.0, 0.7, 0.0], [0.8, 0.0, 0.2, 0.0]])
    truth = np.array([2, 2, 2])  # item 2 is really kitchen: the model is wrong about it
    t = choose_thresholds(cat, truth, flag_precision=0.99, correct_precision=0.99)
    # flagging item 2 in the kitchen bin (P(wrong)=0.8) is a false flag: contamination must be
    # above 0.8 to keep precision, while everything in other bins is rightly flagged at ≥ 0.81
    assert t.contaminated == pytest.approx(0.81)
    # calling item 2 correct in the recyclable bin (0.8) is wrong, so correct must exceed 0.8
    assert t.correct == pytest.approx(0.81)
