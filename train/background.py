"""Crops with no item in them: the `background` output's training, validation and test data.

A camera over a bin triggers on hands, shadows, light switches and bags settling; a crop of an
empty floor must be answered "no item", never a category. Nothing in the shared datasets is
labelled empty, so the crops are made, per split, from three kinds of ground:

- `corner`: a corner of a top-down photo whose item sits in the middle (waste-extra-v1's tray
  photos: stained kraft paper; its pill photos: countertops, notebooks and palms, so that a
  palm without pills is taught as "no item", not as medicine);
- `drawn`: bin floors, bags and trays drawn by `train.augment.draw_background`;
- `hand`: a drawn floor with a skin-toned arm and hand reaching in (a false trigger).

Crops of a split come only from that split's photos, so the held-out empty set (the test
split's) shares no photo with training. The crops are written as JPEG files into a folder of
the run (never into the repository) and returned as samples labelled `background`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from train.augment import draw_background
from train.manifest import Sample
from vision.imageio import read_image
from vision.metadata import BACKGROUND

log = logging.getLogger(__name__)

CORNER_SOURCES = ("tray", "pills")  # top-down photos with the item in the middle
SKIN_TONES = ((120, 160, 215), (95, 135, 190), (150, 185, 225), (70, 100, 150))  # BGR


@dataclass(frozen=True)
class BackgroundCounts:
    """How many crops of each kind a split gets (`corner`: per photo of a corner source)."""

    corner_per_photo: int = 1
    drawn: int = 400
    hand: int = 150


DEFAULT_COUNTS = {
    "train": BackgroundCounts(1, 400, 150),
    "val": BackgroundCounts(1, 60, 30),
    "test": BackgroundCounts(1, 120, 60),
}


def counts_for(split: str, corners_per_photo: int = 1) -> BackgroundCounts:
    """The split's default counts; `corners_per_photo` (1 to 4) applies to the train split
    only, so the validation and held-out empty sets stay the same whatever the recipe."""
    if not 1 <= corners_per_photo <= 4:
        raise ValueError(f"corners per photo must be 1 to 4 (a photo has four corners), "
                         f"not {corners_per_photo}")  # fmt: skip
    counts = DEFAULT_COUNTS.get(split, BackgroundCounts())
    return replace(counts, corner_per_photo=corners_per_photo) if split == "train" else counts


def corner_crop(image: np.ndarray, rng: np.random.Generator, corner: int) -> np.ndarray:
    """A square from one corner (0..3) of the photo, 0.22 to 0.33 of its shorter side."""
    h, w = image.shape[:2]
    side = max(16, int(min(h, w) * rng.uniform(0.22, 0.33)))
    jitter = int(min(h, w) * 0.03)
    dx, dy = (int(rng.integers(0, jitter + 1)) for _ in range(2))
    x = dx if corner in (0, 3) else w - side - dx
    y = dy if corner in (0, 1) else h - side - dy
    return np.ascontiguousarray(image[y : y + side, x : x + side])


def hand_scene(rng: np.random.Generator, side: int) -> np.ndarray:
    """A drawn floor with an arm reaching in from one edge and a hand at its end."""
    canvas = draw_background(rng, side, side)
    tone = np.array(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], np.float64)
    colour = tuple(int(c) for c in np.clip(tone + rng.normal(0, 12, 3), 0, 255))
    tip = (int(rng.integers(side // 4, 3 * side // 4)), int(rng.integers(side // 4, 3 * side // 4)))
    edge = int(rng.integers(4))
    start = [(tip[0], -side // 4), (side + side // 4, tip[1]), (tip[0], side + side // 4),
             (-side // 4, tip[1])][edge]  # fmt: skip
    thickness = int(side * rng.uniform(0.15, 0.3))
    cv2.line(canvas, start, tip, colour, thickness, cv2.LINE_AA)
    axes = (int(thickness * rng.uniform(0.7, 1.0)), int(thickness * rng.uniform(0.5, 0.8)))
    angle = float(rng.uniform(0, 180))
    cv2.ellipse(canvas, tip, axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
    shade = tuple(int(c * 0.75) for c in colour)
    cv2.ellipse(canvas, tip, axes, angle, 0, 360, shade, 2, cv2.LINE_AA)
    return canvas


def make_backgrounds(
    samples: Sequence[Sample],
    split: str,
    folder: Path,
    seed: int,
    counts: BackgroundCounts | None = None,
) -> list[Sample]:
    """Write the split's background crops into `folder` (made afresh) and return them as
    samples labelled `background` (category None, group per source photo or drawing)."""
    counts = counts or DEFAULT_COUNTS.get(split, BackgroundCounts())
    rng = np.random.default_rng([seed, sum(map(ord, split))])
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    made: list[Sample] = []

    def save(image: np.ndarray, name: str, source: str, group: str) -> None:
        path = folder / f"{name}.jpg"
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"cannot write {path}")
        made.append(Sample(path, split, None, BACKGROUND, source, group, "background"))

    photos = [s for s in samples if s.split == split and s.source in CORNER_SOURCES]
    for i, sample in enumerate(photos):
        image = read_image(sample.path)
        for k, corner in enumerate(rng.permutation(4)[: counts.corner_per_photo]):
            crop = corner_crop(image, rng, int(corner))
            save(crop, f"corner-{i:05d}-{k}", f"corner:{sample.source}", sample.group)
    for i in range(counts.drawn):
        side = int(rng.integers(96, 320))
        save(draw_background(rng, side, side), f"drawn-{i:05d}", "drawn", f"drawn:{split}:{i}")
    for i in range(counts.hand):
        save(hand_scene(rng, int(rng.integers(128, 320))), f"hand-{i:05d}", "hand",
             f"hand:{split}:{i}")  # fmt: skip
    log.info("%s: %d background crops in %s", split, len(made), folder)
    return made
