"""train.views: the close-ups retraining trains on are those `binwatch classify` reads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.tiny_model import write_tiny_model
from tests.vision.test_item_map import LABELS, red_item_on_patchwork
from train.manifest import Sample
from train.views import boxed_view, close_up_boxes
from vision.classifier import Classifier, ClassifierOptions
from vision.taxonomy import Category
from vision.zoom import find_item, read_photos


def test_close_ups_are_where_classify_reads_them(tmp_path: Path) -> None:
    """Three reviewed photos: a red square on a plain floor (the ground places it), one on a
    busy patchwork (only the model's activations place it) and a plain empty floor. Without a
    model the ground's close-up alone; with the active model the activations' too, its box the
    one `binwatch classify` reads, and each close-up the square round that box."""
    plain = np.full((320, 320, 3), 150, np.uint8)
    plain[100:140, 180:220] = (20, 20, 230)
    busy = red_item_on_patchwork(40, (40, 60), (60, 60, 60))
    empty = np.full((320, 320, 3), 150, np.uint8)
    samples = []
    for name, photo in (("plain", plain), ("busy", busy), ("empty", empty)):
        path = tmp_path / f"{name}.png"  # lossless: the reading of the file is the reading here
        assert cv2.imwrite(str(path), photo)
        samples.append(Sample(path, "train", Category.HAZARDOUS, "battery", "t", name, "m"))
    soft = Classifier(write_tiny_model(tmp_path / "soft.onnx", labels=LABELS, sharpness=3.0),
                      ClassifierOptions(threads=1))  # fmt: skip

    ground = close_up_boxes(samples)
    assert [s.group for s, _ in ground] == ["plain"]
    assert ground[0][1] == find_item(plain)

    both = close_up_boxes(samples, soft, batch=2)
    assert [s.group for s, _ in both] == ["plain", "busy"]
    reading = read_photos(soft, [busy])[0]
    assert reading.located_by == "activation" and both[1][1] == reading.item_box
    box = both[1][1]
    assert box.x <= 60 <= box.x + box.w and box.y <= 80 <= box.y + box.h
    crop = boxed_view(box)(busy)
    assert crop.shape[0] == crop.shape[1] < 320
    assert (crop == (20, 20, 230)).all(axis=2).sum() == 40 * 40  # the whole square inside
