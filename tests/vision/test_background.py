"""A model's `background` output: "no item" is an answer, never a category."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tiny_model import PROTOTYPES, solid_image, tiny_metadata, write_tiny_model
from vision.classifier import Classifier
from vision.errors import TaxonomyError
from vision.metadata import BACKGROUND
from vision.prediction import items_only
from vision.taxonomy import Category, load_profile
from vision.verdict import VerdictKind, judge

LABELS = (*PROTOTYPES, BACKGROUND)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("bg") / "bg.onnx", labels=LABELS)


def test_background_is_declared_reserved_not_a_label(model: Path) -> None:
    meta = Classifier(model).metadata
    assert meta.schema_version == 2
    assert meta.reserved == (BACKGROUND,)
    assert meta.background_index == len(LABELS) - 1
    assert BACKGROUND not in meta.item_labels and len(meta.item_labels) == 12


def test_empty_crop_is_background_and_items_are_not(model: Path) -> None:
    classifier = Classifier(model)
    floor, battery = classifier.classify([solid_image(BACKGROUND), solid_image("battery")])
    assert floor.is_background and floor.background > 0.9
    assert not battery.is_background and battery.background < 0.01
    assert battery.label == "battery" and battery.category is Category.HAZARDOUS
    # what the item is, if it is one: the item outputs renormalised
    assert sum(floor.category_probabilities.values()) == pytest.approx(1.0)
    assert floor.probabilities.shape == (len(LABELS),)
    assert floor.label != BACKGROUND


def test_threshold_comes_from_the_metadata(tmp_path: Path) -> None:
    # a grey between the floor and `residual` (50, 50, 50): background wins, but not by much
    image = np.full((48, 64, 3), 100, np.uint8)
    strict = tiny_metadata(LABELS, thresholds={"background": 0.999})
    loose = tiny_metadata(LABELS, thresholds={"background": 0.3})
    p_strict = Classifier(write_tiny_model(tmp_path / "s.onnx", labels=LABELS, metadata=strict))
    p_loose = Classifier(write_tiny_model(tmp_path / "l.onnx", labels=LABELS, metadata=loose))
    a, b = p_strict.classify([image])[0], p_loose.classify([image])[0]
    assert a.background == pytest.approx(b.background)
    assert 0.3 <= a.background < 0.999
    assert not a.is_background and b.is_background


def test_a_drop_off_of_only_background_is_empty(model: Path) -> None:
    classifier = Classifier(model)
    thresholds = classifier.metadata.thresholds
    crops = [solid_image(BACKGROUND), solid_image(BACKGROUND)]
    predictions = classifier.classify(crops)
    kitchen = frozenset({Category.KITCHEN})
    assert judge(items_only(predictions), kitchen, thresholds).kind is VerdictKind.EMPTY
    mixed = classifier.classify([solid_image(BACKGROUND), solid_image("battery")])
    verdict = judge(items_only(mixed), kitchen, thresholds)
    assert verdict.kind is VerdictKind.CONTAMINATED and len(verdict.items) == 1


def test_a_profile_cannot_map_background(tmp_path: Path) -> None:
    national = (Path(__file__).parents[2] / "vision/data/profiles/national.yaml").read_text()
    city = tmp_path / "city.yaml"
    city.write_text(national.replace("name: national", "name: city") + "  background: other\n")
    with pytest.raises(TaxonomyError, match="background"):
        load_profile(str(city))


def test_old_model_without_background_never_says_empty(tiny_model: Path) -> None:
    prediction = Classifier(tiny_model).classify([solid_image("paper")])[0]
    assert prediction.background == 0.0 and not prediction.is_background


def _classify(*args: str | Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "binwatch", "classify", *map(str, args), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_classify_reports_empty_with_null_category(model: Path, tmp_path: Path) -> None:
    floor, cell = tmp_path / "floor.jpg", tmp_path / "cell.jpg"
    cv2.imwrite(str(floor), solid_image(BACKGROUND))
    cv2.imwrite(str(cell), solid_image("battery"))
    rows = {Path(str(r["path"])).name: r for r in _classify(floor, cell, "--bin", "kitchen",
                                                            "--model", model)}  # fmt: skip
    empty = rows["floor.jpg"]
    assert empty["verdict"] == "empty"
    assert "category" in empty and empty["category"] is None and empty["label"] is None
    assert empty["belongs"] is None and float(str(empty["background"])) > 0.9
    assert rows["cell.jpg"]["verdict"] == "contaminated"
    assert rows["cell.jpg"]["category"] == "hazardous"


def test_a_close_up_says_what_the_item_is_never_whether_there_is_one(model: Path) -> None:
    """`what_it_is` (vision.zoom's reading of a whole photo and its close-up): "no item" stays
    the whole photo's answer; the item's label comes from both readings' item probabilities,
    the close-ups sharing `close_up_weight` of it."""
    classifier = Classifier(model)
    whole, close, floor = classifier.classify(
        [solid_image("battery"), solid_image("plastic"), solid_image(BACKGROUND)]
    )
    items = [i for i, label in enumerate(classifier.labels) if label != BACKGROUND]
    whole_items, close_items = (p.probabilities[items] / p.probabilities[items].sum()
                                for p in (whole, close))  # fmt: skip
    for weight in (0.5, 2 / 3, 1.0, 0.0):
        read = classifier.what_it_is(whole, [close], weight)
        assert read.background == pytest.approx(whole.background, abs=1e-6)
        assert read.is_background == whole.is_background
        np.testing.assert_allclose(
            read.probabilities[items] / read.probabilities[items].sum(),
            (1 - weight) * whole_items + weight * close_items,
            atol=1e-5,
        )
    assert classifier.what_it_is(whole, [close]).confidence < 0.55  # the plain mean: a coin toss
    assert classifier.what_it_is(whole, [close], 2 / 3).label == "plastic"  # the close-up's
    assert classifier.what_it_is(whole, [close, whole], 2 / 3).label == "battery"  # shared
    with pytest.raises(ValueError, match="close_up_weight"):
        classifier.what_it_is(whole, [close], 1.5)
    alone = classifier.what_it_is(whole, [], 2 / 3)  # no close-up: the whole photo's reading
    np.testing.assert_allclose(alone.probabilities, whole.probabilities, atol=1e-6)
    # a close-up read as "no item" cannot drop the item; an empty whole photo stays empty
    kept = classifier.what_it_is(close, [floor])
    assert not kept.is_background and kept.background == pytest.approx(close.background)
    assert classifier.what_it_is(floor, [close]).is_background
