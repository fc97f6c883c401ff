"""`python -m train.thresholds_cli`: a file's verdict thresholds chosen again at a stated
contamination rate, the weights untouched, the step in its recipe."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from tests.tiny_model import PROTOTYPES, write_tiny_model
from train import thresholds_cli
from train.thresholds import choose_thresholds
from vision.classifier import Classifier
from vision.taxonomy import Category, load_profile


def _site(folder: Path) -> Path:
    """Photos of four labels' colours, val and test, and in val three `residual` (other)
    photos whose colour lies 0.4 of the way to `metal`: the tiny model reads them recyclable at
    about 0.55, the doubtful items false flags come from."""
    national = load_profile("national")
    rows = []
    rng = np.random.default_rng(0)
    colours = [(label, PROTOTYPES[label]) for label in ("paper", "food_waste", "battery",
                                                        "residual")] * 6  # fmt: skip
    doubtful = tuple(0.6 * np.array(PROTOTYPES["residual"]) + 0.4 * np.array(PROTOTYPES["metal"]))
    colours += [("residual", doubtful)] * 3
    for n, (label, rgb) in enumerate(colours):
        for split in ("val", "test"):
            name = f"{split}-{n}.jpg"
            noise = rng.normal(0, 4, (48, 48, 3))
            photo = np.clip(np.array(rgb[::-1], dtype=float) + noise, 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / name), photo)
            rows.append([name, split, national.category_of(label).value, label, "site", name])
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "split", "category", "fine_label", "source", "group"])
        writer.writerows(rows)
    return path


def test_thresholds_are_chosen_again_at_the_stated_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_tiny_model(tmp_path / "tiny.onnx")
    manifest = _site(tmp_path)
    out = tmp_path / "again.onnx"
    # the photos as they are: night and drawn floors turn a colour model's answers around
    monkeypatch.setattr(thresholds_cli, "VIEWS", {"": None})
    monkeypatch.setattr(sys, "argv", [
        "thresholds_cli", "--model", str(source), "--out", str(out), "--version", "tiny-2",
        "--manifest", str(manifest), "--contamination-rate", "0.1", "--flag-precision", "0.95",
    ])  # fmt: skip
    thresholds_cli.main()

    before, after = Classifier(source).metadata, Classifier(out).metadata
    cat, truth = thresholds_cli.val_views(Classifier(source), [manifest])
    assert len(truth) == 27
    at_a_tenth = choose_thresholds(cat, truth, 0.95, 0.98, 0.1, (Category.HAZARDOUS,))
    assert after.thresholds.contaminated == at_a_tenth.contaminated
    assert after.thresholds.correct == at_a_tenth.correct
    # hazardous flags are lowered as `binwatch retrain` lowers them (when the photos allow it)
    assert after.thresholds.contaminated_by_category == at_a_tenth.contaminated_by_category
    assert Category.HAZARDOUS in after.thresholds.contaminated_by_category
    # the doubtful photos read P(outside their bin) ≈ 0.55: counted at every bin their three
    # false flags pass (78 of 81 right), at a tenth of drops wrong they do not
    assert choose_thresholds(cat, truth, 0.95, 0.98).contaminated == 0.51
    assert 0.55 < at_a_tenth.contaminated < 0.6
    assert after.thresholds.background == before.thresholds.background
    assert after.model_version == "tiny-2"
    step = after.provenance.recipe["thresholds"]
    assert step["from"] == "tiny-1" and step["contamination_rate"] == 0.1
    assert step["lowered"] == ["hazardous"]
    assert "test_category_accuracy" in after.metrics  # measured again on the new file
    weights = [(i.name, i.raw_data) for i in onnx.load(str(source)).graph.initializer]
    assert [(i.name, i.raw_data) for i in onnx.load(str(out)).graph.initializer] == weights
