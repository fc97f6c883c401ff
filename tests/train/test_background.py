"""The `background` output's data and its threshold."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from train.background import (
    DEFAULT_COUNTS,
    BackgroundCounts,
    corner_crop,
    counts_for,
    crop_shape,
    hand_scene,
    make_backgrounds,
)
from train.manifest import Sample
from train.thresholds import choose_background_threshold
from vision.imageio import read_image
from vision.metadata import BACKGROUND
from vision.taxonomy import Category


def tray_photo(path: Path, seed: int) -> Path:
    """Kraft paper with a dark item in the middle, as in the tray photos."""
    image = np.full((200, 240, 3), (120, 170, 200), np.uint8)
    image[70:130, 90:150] = (20 + seed, 20, 20)
    cv2.imwrite(str(path), image)
    return path


def samples(tmp_path: Path) -> list[Sample]:
    made = []
    for n, split in enumerate(["train", "train", "val", "test", "test"]):
        path = tray_photo(tmp_path / f"p{n}.jpg", n)
        made.append(Sample(path, split, Category.OTHER, "residual", "tray", f"g{n}", "extra"))
    made.append(Sample(tmp_path / "p0.jpg", "train", Category.OTHER, "residual", "trashnet",
                       "x", "v1"))  # fmt: skip
    return made


def test_each_split_cuts_only_its_own_photos(tmp_path: Path) -> None:
    counts = BackgroundCounts(corner_per_photo=2, drawn=3, hand=2)
    train = make_backgrounds(samples(tmp_path), "train", tmp_path / "bg-train", 0, counts)
    test = make_backgrounds(samples(tmp_path), "test", tmp_path / "bg-test", 0, counts)
    assert len(train) == 2 * 2 + 3 + 2  # two tray photos in train; the trashnet one is no corner
    assert {s.label for s in train} == {BACKGROUND} and {s.category for s in train} == {None}
    assert {s.group for s in train if s.source == "corner:tray"} == {"g0", "g1"}
    assert {s.group for s in test if s.source == "corner:tray"} == {"g3", "g4"}
    assert all(s.path.is_file() and s.split == "train" for s in train)
    for sample in train:  # no corner reaches the item in the middle
        image = read_image(sample.path)
        if sample.source == "corner:tray":
            assert image.min() > 60


def test_backgrounds_are_reproducible_and_made_afresh(tmp_path: Path) -> None:
    counts = BackgroundCounts(1, 2, 1)
    first = make_backgrounds(samples(tmp_path), "val", tmp_path / "bg", 5, counts)
    data = [s.path.read_bytes() for s in first]
    (tmp_path / "bg" / "stale.jpg").write_bytes(b"old")
    again = make_backgrounds(samples(tmp_path), "val", tmp_path / "bg", 5, counts)
    assert [s.path.read_bytes() for s in again] == data
    assert not (tmp_path / "bg" / "stale.jpg").exists()


def test_corner_and_hand_crops() -> None:
    rng = np.random.default_rng(0)
    image = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    for corner in range(4):
        crop = corner_crop(image, rng, corner)
        assert 22 <= max(crop.shape[:2]) <= 33 and min(crop.shape[:2]) >= 12
    hand = hand_scene(np.random.default_rng(1), 120, 160)
    b, g, r = (hand[..., i].astype(int) for i in range(3))
    skin = (r > g) & (g > b) & (r - b > 40)
    assert hand.shape == (120, 160, 3) and skin.mean() > 0.05


def test_no_item_crops_come_in_a_cameras_shapes(tmp_path: Path) -> None:
    """Not only squares: a photo that is not square reaches the model with grey letterbox
    bands, and bands must not come to mean "an item is here"."""
    rng = np.random.default_rng(2)
    shapes = [crop_shape(rng, 240) for _ in range(400)]
    assert all(max(shape) == 240 for shape in shapes)
    ratios = {round(w / h, 2) for h, w in shapes}
    assert ratios == {1.0, 1.33, 1.78, 0.75, 0.56}
    assert 0.2 < sum(h == w for h, w in shapes) / len(shapes) < 0.4
    made = make_backgrounds(
        samples(tmp_path), "train", tmp_path / "bg", 0, BackgroundCounts(1, 20, 10, 10)
    )
    kinds: dict[str, set[bool]] = {s.source: set() for s in made}
    for sample in made:
        h, w = read_image(sample.path).shape[:2]
        kinds[sample.source].add(h == w)
    assert all(kinds[kind] == {True, False} for kind in ("drawn", "hand", "plain"))


def test_background_threshold_spares_the_items() -> None:
    rng = np.random.default_rng(0)
    items = np.concatenate([rng.uniform(0, 0.3, 990), rng.uniform(0.6, 0.9, 10)])
    empty = rng.uniform(0.4, 1.0, 500)
    cut, effect = choose_background_threshold(items, empty, max_item_drop=0.01)
    assert cut == 0.5  # 1 % of the items reach 0.6 at most: 0.5 already spares 99 %
    assert effect["items_dropped"] <= 0.01 and 0.75 < effect["empty_rejected"] < 0.9
    stricter, _ = choose_background_threshold(items, empty, max_item_drop=0.005)
    assert 0.6 < stricter <= 0.9


def test_corners_per_photo_change_only_the_train_split() -> None:
    assert counts_for("train", 3).corner_per_photo == 3
    assert counts_for("train", 3).drawn == DEFAULT_COUNTS["train"].drawn
    assert counts_for("val", 3) == DEFAULT_COUNTS["val"]  # the held-out sets stay as they are
    assert counts_for("test", 4) == DEFAULT_COUNTS["test"]
    for wrong in (0, 5):
        with pytest.raises(ValueError, match="1 to 4"):
            counts_for("train", wrong)
