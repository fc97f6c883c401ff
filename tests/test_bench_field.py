"""bench.field's ground swap: the grounds it draws, and how it counts a changed answer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.field import (
    GROUNDS,
    hard_night,
    item_scores,
    on_ground,
    swap_scores,
    versus_lines,
    versus_peer,
)
from train.augment import night_check
from train.manifest import Sample
from vision.prediction import Prediction
from vision.taxonomy import Category


def _answer(category: Category, empty: bool = False, label: str = "x") -> Prediction:
    probs = dict.fromkeys(Category, 0.0) | {category: 1.0}
    return Prediction(label, category, 1.0, probs, np.ones(1, np.float32),
                      background=float(empty), is_background=empty)  # fmt: skip


@pytest.mark.parametrize("ground", list(GROUNDS))
def test_each_ground_is_an_image_and_keeps_the_item_in_place(ground: str) -> None:
    drawn = GROUNDS[ground](np.random.default_rng(1), 90, 120)
    assert drawn.shape == (90, 120, 3) and drawn.dtype == np.uint8
    assert drawn.std() > 1.0  # not a flat colour
    item = np.full((60, 40, 3), (20, 200, 240), np.uint8)  # a yellow item on white
    item = np.pad(item, ((20, 20), (20, 20), (0, 0)), constant_values=255)
    first, again = on_ground(ground, 5)(item), on_ground(ground, 5)(item)
    assert np.array_equal(first, again)  # the same seed: the same spot, the same ground


def test_a_changed_answer_on_any_ground_counts() -> None:
    cats = list(Category)
    samples = [Sample(Path(f"{n}.jpg"), "test", c, "x", "s", f"g{n}", "m") for n, c in
               enumerate(cats)]  # fmt: skip
    floor = [_answer(c) for c in cats]
    textured = [_answer(c) for c in cats]
    stain = [_answer(cats[0]), _answer(cats[0]), _answer(cats[2]), _answer(cats[3])]  # item 1
    bag = [_answer(c) for c in cats[:3]] + [_answer(cats[3], empty=True)]  # item 3 lost on a bag
    scores = swap_scores({"floor": floor, "textured": textured, "stain": stain, "bag": bag},
                         samples)  # fmt: skip
    assert scores["changed"] == 0.0
    assert scores["changed_any"] == 0.5
    assert scores["changed_from_floor"] == {"textured": 0.0, "stain": 0.25, "bag": 0.25}
    assert scores["bag"]["dropped_as_empty"] == 0.25


def test_the_hard_night_is_grey_flatter_and_noisier_than_the_check() -> None:
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (48, 1))
    photo = np.stack([ramp, ramp[::-1], np.full_like(ramp, 120)], axis=2).astype(np.uint8)
    hard, check = hard_night(photo), night_check(photo)
    assert hard.shape == photo.shape and hard.dtype == np.uint8
    assert np.array_equal(hard[..., 0], hard[..., 2])  # grey
    assert np.array_equal(hard, hard_night(photo))  # the same noise on a rerun

    def grain(image: np.ndarray) -> float:
        return float((image.astype(np.float32) - cv2.GaussianBlur(image, (0, 0), 3)).std())

    assert grain(hard) > 2 * grain(check)  # noisier
    assert np.ptp(cv2.GaussianBlur(hard, (0, 0), 3)) < np.ptp(check)  # flatter


def test_scores_carry_their_interval_and_the_peer_comparison_is_paired() -> None:
    cats = [Category.RECYCLABLE] * 30 + [Category.OTHER] * 20
    samples = [Sample(Path(f"{n}.jpg"), "test", c, "x", "s", f"g{n}", "m")
               for n, c in enumerate(cats)]  # fmt: skip
    answers = [_answer(c) for c in cats[:-6]] + [_answer(Category.KITCHEN)] * 6  # 6 of 20 wrong
    scores = item_scores(answers, samples)
    assert scores["macro_recall"] == (1.0 + 0.7) / 2
    low, high = scores["macro_recall_95"]
    assert low < scores["macro_recall"] < high and high <= 1.0
    assert scores["photos"] == {"recyclable": 30, "hazardous": 0, "kitchen": 0, "other": 20}
    assert scores["by_label"] == {"x": {"photos": 50, "right": 44, "wrong_as": {"x": 6}}}

    right = np.array([p.category == c for p, c in zip(answers, cats, strict=True)])
    model = {"_right": {"sim": dict.fromkeys(("day", "night", "night_hard"), np.ones(50, bool))}}
    peer = {"_right": {"sim": dict.fromkeys(("day", "night", "night_hard"), right)}}
    versus = versus_peer(model, peer, {"sim": samples})
    assert np.isclose(versus["sim"]["night"]["difference"], 0.15)  # other 70 % -> 100 %, halved
    night = versus["sim"]["night"]
    assert night["low"] > 0 and night["low"] - 1e-9 <= night["difference"] <= night["high"] + 1e-9
    lines = versus_lines(versus, "new", "old")
    assert lines[0].startswith("Macro recall, new minus old") and "night +15.00" in lines[2]


def test_by_label_says_where_a_category_is_lost() -> None:
    labels = ["paper"] * 3 + ["residual"] * 3 + ["cigarette"] * 2
    cats = [Category.RECYCLABLE] * 3 + [Category.OTHER] * 5
    samples = [Sample(Path(f"{n}.jpg"), "test", c, label, "s", f"g{n}", "m")
               for n, (c, label) in enumerate(zip(cats, labels, strict=True))]  # fmt: skip
    answers = [_answer(Category.RECYCLABLE, label="paper")] * 3 + [
        _answer(Category.RECYCLABLE, label="plastic"),  # residual read as plastic
        _answer(Category.OTHER, label="tissue"),  # another `other` label: still right
        _answer(Category.RECYCLABLE, label="plastic"),
        _answer(Category.OTHER, empty=True),  # a cigarette dropped as no item
        _answer(Category.OTHER, label="cigarette"),
    ]
    scores = item_scores(answers, samples)
    assert scores["by_label"] == {
        "cigarette": {"photos": 2, "right": 1, "wrong_as": {"no item": 1}},
        "paper": {"photos": 3, "right": 3, "wrong_as": {}},
        "residual": {"photos": 3, "right": 1, "wrong_as": {"plastic": 2}},
    }
    assert scores["recall"]["other"] == 2 / 5  # the same photos, by category


def test_flags_are_also_counted_where_few_drops_are_wrong(tiny_model: Path) -> None:
    from bench.field import flag_table, flags
    from vision.classifier import Classifier

    classifier = Classifier(tiny_model)  # thresholds: correct 0.6, contaminated 0.6
    sure = [_answer(Category.KITCHEN) for _ in range(9)]
    doubtful = Prediction("x", Category.RECYCLABLE, 0.7,
                          dict.fromkeys(Category, 0.0) | {Category.RECYCLABLE: 0.7,
                                                          Category.KITCHEN: 0.3},
                          np.ones(1, np.float32))  # fmt: skip
    samples = [Sample(Path(f"{n}.jpg"), "test", Category.KITCHEN, "food_waste", "s", str(n), "m")
               for n in range(10)]  # fmt: skip
    made = flags(classifier, [*sure, doubtful], samples)
    # every bin: 29 of 30 wrong drops flagged (the doubtful item's recyclable drop is not), and
    # one false flag, the doubtful item in its own kitchen bin
    assert made["all"]["precision"] == pytest.approx(29 / 30)
    tenth = made["at_rate"]["10%"]
    assert tenth["right_flagged"] == pytest.approx(0.1)
    assert tenth["flag_precision_at_rate"] == pytest.approx(0.0967 / (0.0967 + 0.09), abs=1e-3)
    result = {"model_version": "tiny-1", "thresholds": {"correct": 0.6, "contaminated": 0.6},
              "sets": {"site": {"flags": made, "flags_night": made}}}  # fmt: skip
    row = flag_table([result])[-1]
    assert row.startswith("| site | tiny-1 | 0.6 / 0.6 | 10.00 / 10.00 % |")
    assert "51.8 / 51.8 %" in row  # precision where a tenth of drops are wrong, day / night
    # by the item's category: all ten are kitchen, so no hazardous item's drops to count
    assert tenth["wrong_flagged_kitchen"] == pytest.approx(29 / 30)
    assert "wrong_flagged_hazardous" not in tenth and "| – |" in row
    own = result | {"thresholds": {"correct": 0.6, "contaminated": 0.6,
                                   "contaminated_by_category": {"hazardous": 0.95}}}  # fmt: skip
    assert "| 0.6 / 0.6, hazardous 0.95 |" in flag_table([own])[-1]
