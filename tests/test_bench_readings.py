"""bench.readings: reading a set under lights and views, and the rules scored on the readings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bench.readings import read, right_answers, score, with_prior
from tests.tiny_model import PROTOTYPES, solid_image, write_tiny_model
from train.manifest import Sample
from vision.classifier import Classifier, ClassifierOptions
from vision.taxonomy import Category

CATS = list(Category)
R, H, K = (CATS.index(c) for c in (Category.RECYCLABLE, Category.HAZARDOUS, Category.KITCHEN))
OTHER = CATS.index(Category.OTHER)


def test_the_prior_at_one_weighs_each_category_the_same() -> None:
    item_categories = np.array([R, R, R, K, H, OTHER])  # three recyclable labels, one of each other
    even = np.full((1, 6), 1 / 6)
    for alpha, recyclable in ((0.0, 0.5), (1.0, 0.25)):
        weighed = with_prior(even, item_categories, alpha)
        assert np.isclose(weighed.sum(), 1.0)
        assert np.isclose(weighed[0, item_categories == R].sum(), recyclable)
        assert np.isclose(weighed[0, item_categories == K].sum(), (1 - recyclable) / 3)


def test_an_empty_answer_is_wrong_whatever_the_items_say() -> None:
    items = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    right = right_answers(items, np.array([False, True, False]), np.array([R, K]),
                          np.array([R, R, R]))  # fmt: skip
    assert right.tolist() == [True, False, False]


def _readings(as_is: np.ndarray, mirror: np.ndarray, truth: list[int]) -> dict[str, np.ndarray]:
    return {
        "labels": np.array(["paper", "plastic", "food_waste", "background"]),
        "label_categories": np.array([R, R, K, -1]),
        "s/truth": np.array(truth),
        "s/day/as_is": as_is,
        "s/day/as_is/empty": np.zeros(len(truth), bool),
        "s/day/mirror": mirror,
        "s/day/mirror/empty": np.zeros(len(truth), bool),
    }


def test_rules_are_scored_against_the_reading_as_it_is_on_the_same_photos() -> None:
    # photo 0: kitchen, read as paper (0.5) against food (0.4); its mirror is sure of the food
    # photo 1: recyclable, right either way; photo 2: kitchen, the top label (food) though the
    # recyclable labels hold more together: the answer is the top label's category
    as_is = np.array([[0.5, 0.1, 0.4, 0.0], [0.8, 0.1, 0.1, 0.0], [0.3, 0.3, 0.4, 0.0]])
    mirror = np.array([[0.1, 0.0, 0.9, 0.0], [0.7, 0.2, 0.1, 0.0], [0.35, 0.3, 0.35, 0.0]])
    scored = score(_readings(as_is, mirror, [K, R, K]))["s/day"]
    assert scored["photos"] == 3
    assert scored["as_is"]["right"] == 2 and scored["as_is"]["recall"]["kitchen"] == 0.5
    assert scored["as_is+mirror"]["right"] == 3  # photo 0 turns; photo 2 stays food
    assert np.isclose(scored["as_is+mirror"]["versus_as_is"]["difference"], 0.25)
    assert "as_is+turned" not in scored  # no such reading saved
    assert scored["prior 1"]["right"] == 3  # paper 0.5 against food 0.4×2: photo 0 turns
    assert scored["category sum"]["right"] == 1  # photos 0 and 2: recyclable's labels sum higher
    assert scored["mirror alone"]["right"] == 2  # photo 2's mirror ties paper and food: paper
    assert scored["misread"] == {"kitchen": {"photos": 1, "read_as": {"paper": 1},
                                             "median_top": 0.5, "median_own": 0.4}}  # fmt: skip


def test_read_saves_every_light_and_view_with_the_truth(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "tiny.onnx")
    samples = []
    labels = {
        "plastic": Category.RECYCLABLE,
        "food_waste": Category.KITCHEN,
        "battery": Category.HAZARDOUS,
        "residual": Category.OTHER,
    }
    for n, (label, category) in enumerate(labels.items()):
        path = tmp_path / f"{label}.jpg"
        image = solid_image(label, (64, 64))
        image[:8] = 255  # a white band: the mirror is the same photo, the turn is not
        cv2.imwrite(str(path), image)
        samples.append(Sample(path, "test", category, label, "s", f"g{n}", "m"))
    classifier = Classifier(model, ClassifierOptions(threads=1))
    readings = read(classifier, {"s": samples}, ["as_is", "mirror", "turned"])
    assert readings["s/truth"].tolist() == [R, K, H, OTHER]
    assert readings["label_categories"].tolist() == [
        CATS.index(classifier.profile.category_of(label)) for label in PROTOTYPES
    ]
    for light in ("day", "night"):
        for view in ("as_is", "mirror", "turned"):
            assert readings[f"s/{light}/{view}"].shape == (4, len(PROTOTYPES))
            assert readings[f"s/{light}/{view}/empty"].shape == (4,)
    assert np.allclose(readings["s/day/as_is"], readings["s/day/mirror"], atol=1e-6)
    scored = score(readings)
    assert scored["s/day"]["as_is"]["right"] == 4  # solid colours: the tiny model is sure
    assert set(scored) == {"s/day", "s/night"}
    placed = read(classifier, {"s": samples}, ["as_is"], ["floor", "floor_night"])
    assert placed["s/floor/as_is"].shape == (4, len(PROTOTYPES))
    assert not np.allclose(placed["s/floor/as_is"], readings["s/day/as_is"])  # a floor around it
    assert set(score(placed)) == {"s/floor", "s/floor_night"}


def test_the_test_splits_are_also_scored_pooled_and_the_simulator_apart() -> None:
    one = np.array([[0.9, 0.05, 0.05, 0.0]])
    readings = _readings(one, one, [R])
    for name, truth in (("t", K), ("simulator", K)):
        readings |= {f"{name}/{key.split('/', 1)[1]}": value for key, value in readings.items()
                     if key.startswith("s/")}  # fmt: skip
        readings[f"{name}/truth"] = np.array([truth])
    scored = score(readings)
    assert set(scored) == {"s/day", "t/day", "simulator/day", "pooled/day"}
    assert scored["pooled/day"]["photos"] == 2  # s and t, not the simulator's crop
    assert scored["pooled/day"]["as_is"]["right"] == 1
