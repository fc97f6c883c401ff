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
from train.thresholds import choose_thresholds, threshold_effect
from vision.metadata import Thresholds


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


def _one_doubtful_item() -> tuple[np.ndarray, np.ndarray]:
    """Nine kitchen items the model is sure of, and a tenth it reads as recyclable at 0.8."""
    cat = np.array([[0.0, 0.0, 1.0, 0.0]] * 9 + [[0.8, 0.0, 0.2, 0.0]])
    return cat, np.full(10, 2)


def test_flags_are_chosen_at_the_stated_contamination_rate() -> None:
    cat, truth = _one_doubtful_item()
    # each item in each bin: 29 right flags and 1 false (the tenth in the kitchen bin) at any
    # threshold up to 0.8, precision 29/30 = 96.7 %: the lowest threshold passes
    assert choose_thresholds(cat, truth, 0.95, 0.9).contaminated == pytest.approx(0.51)
    # where a tenth of drops are wrong, the one false flag weighs as much as 27 right ones
    # (precision 0.1·29/30 / (0.1·29/30 + 0.9·1/10) = 51.8 %): the threshold must pass 0.8
    at_a_tenth = choose_thresholds(cat, truth, 0.95, 0.9, contamination_rate=0.1)
    assert at_a_tenth.contaminated == pytest.approx(0.81)
    # `correct` is counted at every bin whatever the rate: a missed flag is not reviewed
    assert at_a_tenth.correct == choose_thresholds(cat, truth, 0.95, 0.9).correct


def test_threshold_effect_counts_each_kind_of_drop() -> None:
    cat, truth = _one_doubtful_item()
    low = threshold_effect(cat, truth, Thresholds(correct=0.75, contaminated=0.51), 0.1)
    assert low["right_flagged"] == pytest.approx(0.1)  # the tenth, in its own bin
    assert low["wrong_flagged"] == pytest.approx(29 / 30)  # all but the tenth in recyclable
    # the tenth in the recyclable bin belongs there at 0.8: a wrong drop called correct
    assert low["wrong_uncertain"] == 0 and low["wrong_called_correct"] == pytest.approx(1 / 30)
    assert low["flag_precision_at_rate"] == pytest.approx(0.1 * 29 / 30 / (0.1 * 29 / 30 + 0.09))
    high = threshold_effect(cat, truth, Thresholds(correct=0.9, contaminated=0.81), 0.1)
    assert high["right_flagged"] == 0 and high["right_uncertain"] == pytest.approx(0.1)
    assert high["wrong_uncertain"] == pytest.approx(1 / 30) and high["wrong_called_correct"] == 0
    assert high["flag_precision_at_rate"] == 1.0


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1])
def test_a_contamination_rate_is_a_share(rate: float) -> None:
    cat, truth = _one_doubtful_item()
    with pytest.raises(ValueError, match="between 0 and 1"):
        choose_thresholds(cat, truth, contamination_rate=rate)


@pytest.mark.parametrize("rate", [1.0, -0.1])
def test_retrain_takes_a_contamination_rate_below_one(rate: float) -> None:
    import argparse

    from binwatch.retrain_cli import configure
    from train.retrain import RetrainOptions

    parser = argparse.ArgumentParser()
    configure(parser)
    needed = ["--from", "r.zip", "--manifest", "m.csv", "--out", "runs/x"]
    assert parser.parse_args(needed).contamination_rate == 0.1  # `binwatch retrain`'s default
    assert RetrainOptions().contamination_rate == 0.1  # as `binwatch export`
    with pytest.raises(ValueError, match="contamination_rate"):
        RetrainOptions(contamination_rate=rate)


def test_threshold_effect_follows_the_verdict_rule() -> None:
    """Per-category thresholds and the outside total: the shares count `judge_item`'s kinds drop
    by drop."""
    from vision.taxonomy import Category
    from vision.verdict import VerdictKind, judge_item

    rng = np.random.default_rng(3)
    cat = rng.dirichlet(np.full(4, 0.4), 400)
    truth = rng.integers(0, 4, 400)
    thresholds = Thresholds(correct=0.7, contaminated=0.8, contaminated_outside=0.9,
                            contaminated_by_category={Category.HAZARDOUS: 0.3})  # fmt: skip
    cats = list(Category)
    kinds = np.array([[judge_item(dict(zip(cats, row, strict=True)), frozenset({b}),
                                  thresholds).kind for b in cats] for row in cat])  # fmt: skip
    wrong = truth[:, None] != np.arange(4)[None, :]
    got = threshold_effect(cat, truth, thresholds, 0.1)
    assert got["right_flagged"] == pytest.approx((kinds[~wrong] == VerdictKind.CONTAMINATED).mean())
    assert got["wrong_flagged"] == pytest.approx((kinds[wrong] == VerdictKind.CONTAMINATED).mean())
    assert got["wrong_called_correct"] == pytest.approx(
        (kinds[wrong] == VerdictKind.CORRECT).mean()
    )
    assert got["right_uncertain"] == pytest.approx((kinds[~wrong] == VerdictKind.UNCERTAIN).mean())


def _hazard_views() -> tuple[np.ndarray, np.ndarray]:
    """Two views of the same 40 photos: ten batteries read hazardous at 0.9, thirty kitchen
    items read as kitchen, one of which reads hazardous at 0.5 in the first view and at 0.7 in
    the second."""
    battery, kitchen = [0.04, 0.9, 0.04, 0.02], [0.0, 0.0, 1.0, 0.0]
    first = np.array([battery] * 10 + [kitchen] * 29 + [[0.0, 0.5, 0.5, 0.0]])
    second = np.array([battery] * 10 + [kitchen] * 29 + [[0.0, 0.7, 0.3, 0.0]])
    truth = np.array([1] * 10 + [2] * 30)
    return np.concatenate([first, second]), np.tile(truth, 2)


def test_a_lowered_category_stops_where_any_view_would_flag_a_right_drop() -> None:
    from train.thresholds import LOWERED_MARGIN, lower_flag_thresholds
    from vision.taxonomy import Category

    cat, truth = _hazard_views()
    shared = Thresholds(correct=0.9, contaminated=0.991)
    both = lower_flag_thresholds(cat, truth, shared, 0.1, (Category.HAZARDOUS,), views=2)
    # at 0.70 the second view flags the kitchen item in the kitchen bin: one false flag against
    # 30 right ones, 52 % precise where a tenth of drops are wrong; the walk ends there
    own = 0.71 + LOWERED_MARGIN
    assert both.contaminated_by_category == {Category.HAZARDOUS: pytest.approx(own)}
    assert both.contaminated == shared.contaminated and both.correct == shared.correct
    first = lower_flag_thresholds(cat[:40], truth[:40], shared, 0.1, (Category.HAZARDOUS,))
    assert first.contaminated_by_category == {Category.HAZARDOUS: pytest.approx(0.51 + 0.03)}
    # the batteries in the other bins are flagged now; at the shared threshold none was
    for t, caught in ((shared, 0.0), (both, 1.0)):
        effect = threshold_effect(cat[:10], truth[:10], t, 0.1)
        assert effect["wrong_flagged"] == caught
    # a margin that reaches the shared threshold leaves the category without one of its own
    assert lower_flag_thresholds(cat, truth, shared, 0.1, (Category.HAZARDOUS,), views=2,
                                 margin=0.3).contaminated_by_category == {}  # fmt: skip
    with pytest.raises(ValueError, match="equal views"):
        lower_flag_thresholds(cat, truth, shared, 0.1, (Category.HAZARDOUS,), views=3)


def test_choose_thresholds_lowers_a_category_at_a_rate_only() -> None:
    from vision.taxonomy import Category

    cat, truth = _hazard_views()
    # and in each view ten recyclable photos, two of them read as `other` at 0.95: one shared
    # threshold must pass 0.95, a battery's may not
    paper = np.array([[1.0, 0.0, 0.0, 0.0]] * 8 + [[0.05, 0.0, 0.0, 0.95]] * 2)
    cat = np.concatenate([cat[:40], paper, cat[40:], paper])
    truth = np.concatenate([truth[:40], np.zeros(10, int), truth[40:], np.zeros(10, int)])
    hazardous = (Category.HAZARDOUS,)
    at_a_tenth = choose_thresholds(cat, truth, 0.97, 0.98, 0.1, hazardous, views=2)
    assert set(at_a_tenth.contaminated_by_category) == {Category.HAZARDOUS}
    assert at_a_tenth.contaminated > 0.95
    assert at_a_tenth.contaminated_by_category[Category.HAZARDOUS] == pytest.approx(0.74)
    # without a rate (every photo in every bin) the thresholds are chosen as before
    assert choose_thresholds(cat, truth, 0.97, 0.98, None, hazardous, views=2) == \
        choose_thresholds(cat, truth, 0.97, 0.98)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "categories"),
    [("hazardous", ("hazardous",)), ("hazardous, kitchen", ("hazardous", "kitchen")),
     ("none", ())],
)  # fmt: skip
def test_lower_flags_names_categories(text: str, categories: tuple[str, ...]) -> None:
    from train.thresholds import lowered_categories

    assert tuple(c.value for c in lowered_categories(text)) == categories


@pytest.mark.parametrize("text", ["battery", "", "none,hazardous"])
def test_lower_flags_refuses_what_is_no_category(text: str) -> None:
    from train.thresholds import lowered_categories

    with pytest.raises(ValueError, match="--lower-flags takes"):
        lowered_categories(text)


def test_retrain_lowers_hazardous_flags_by_default() -> None:
    import argparse

    from binwatch.retrain_cli import configure
    from train.retrain import RetrainOptions
    from vision.taxonomy import Category

    parser = argparse.ArgumentParser()
    configure(parser)
    needed = ["--from", "r.zip", "--manifest", "m.csv", "--out", "runs/x"]
    assert parser.parse_args(needed).lower_flags == (Category.HAZARDOUS,)
    assert parser.parse_args([*needed, "--lower-flags", "none"]).lower_flags == ()
    assert RetrainOptions().lowered_flags == (Category.HAZARDOUS,)
