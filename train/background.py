"""Crops with no item in them: the `background` output's training, validation and test data.

A camera over a bin triggers on hands, shadows, light switches and bags settling; a crop of an
empty floor must be answered "no item", never a category. Nothing in the shared datasets is
labelled empty, so the crops are made, per split, from these kinds of ground:

- `corner`: a corner of a top-down photo whose item sits in the middle (waste-extra-v1's tray
  photos: stained kraft paper; its pill photos: countertops, notebooks and palms, so that a
  palm without pills is taught as "no item", not as medicine);
- `drawn`: bin floors, bags and trays drawn by `train.augment.draw_background`;
- `hand`: a drawn floor with a skin-toned arm and hand reaching in (a false trigger);
- `plain`: an empty plain surface (`train.surfaces.plain_surface`: the floor of a sorting
  device, a steel or plastic plate, unevenly lit), training and validation only: the held-out
  measure of those is `bench.surfaces`, drawn by its own code.

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
from train.surfaces import plain_surface
from vision.imageio import read_image
from vision.metadata import BACKGROUND

log = logging.getLogger(__name__)

CORNER_SOURCES = ("tray", "pills")  # top-down photos with the item in the middle
ASPECTS = (1.0, 4 / 3, 16 / 9, 3 / 4, 9 / 16)  # width / height
ASPECT_SHARES = (0.3, 0.25, 0.2, 0.15, 0.1)
SKIN_TONES = ((120, 160, 215), (95, 135, 190), (150, 185, 225), (70, 100, 150))  # BGR


@dataclass(frozen=True)
class BackgroundCounts:
    """How many crops of each kind a split gets (`corner`: per photo of a corner source)."""

    corner_per_photo: int = 1
    drawn: int = 400
    hand: int = 150
    plain: int = 0


DEFAULT_COUNTS = {
    "train": BackgroundCounts(1, 400, 150, 400),
    "val": BackgroundCounts(1, 60, 30, 60),
    "test": BackgroundCounts(1, 120, 60, 0),
}


def counts_for(
    split: str, corners_per_photo: int = 1, plain: int | None = None
) -> BackgroundCounts:
    """The split's default counts; `corners_per_photo` (1 to 4) and `plain` (plain surfaces,
    None: the default) apply to the train split only, so the validation and held-out empty
    sets stay the same whatever the recipe."""
    if not 1 <= corners_per_photo <= 4:
        raise ValueError(f"corners per photo must be 1 to 4 (a photo has four corners), "
                         f"not {corners_per_photo}")  # fmt: skip
    if plain is not None and plain < 0:
        raise ValueError(f"plain surfaces must be 0 or more, not {plain}")
    counts = DEFAULT_COUNTS.get(split, BackgroundCounts())
    if split != "train":
        return counts
    counts = replace(counts, corner_per_photo=corners_per_photo)
    return counts if plain is None else replace(counts, plain=plain)


def crop_shape(rng: np.random.Generator, side: int) -> tuple[int, int]:
    """(height, width) with `side` the longer one, in a camera's proportions: square, 4:3 or
    16:9, landscape or portrait. A crop or photo that is not square reaches the model
    letterboxed (vision.preprocess pads it with grey); were every no-item crop square, grey
    bands would mean "an item is here" (a plain photo of an empty floor of 4:3, bands and all,
    was answered `paper`)."""
    aspect = float(rng.choice(ASPECTS, p=ASPECT_SHARES))
    if aspect >= 1:
        return max(8, round(side / aspect)), side
    return side, max(8, round(side * aspect))


def corner_crop(image: np.ndarray, rng: np.random.Generator, corner: int) -> np.ndarray:
    """A patch from one corner (0..3) of the photo, its longer side 0.22 to 0.33 of the
    photo's shorter side, in one of crop_shape's proportions."""
    h, w = image.shape[:2]
    side = max(16, int(min(h, w) * rng.uniform(0.22, 0.33)))
    ch, cw = crop_shape(rng, side)
    jitter = int(min(h, w) * 0.03)
    dx, dy = (int(rng.integers(0, jitter + 1)) for _ in range(2))
    x = dx if corner in (0, 3) else w - cw - dx
    y = dy if corner in (0, 1) else h - ch - dy
    return np.ascontiguousarray(image[y : y + ch, x : x + cw])


def hand_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A drawn floor with an arm reaching in from one edge and a hand at its end."""
    canvas = draw_background(rng, height, width)
    side = min(height, width)
    tone = np.array(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], np.float64)
    colour = tuple(int(c) for c in np.clip(tone + rng.normal(0, 12, 3), 0, 255))
    tip = (int(rng.integers(width // 4, 3 * width // 4)),
           int(rng.integers(height // 4, 3 * height // 4)))  # fmt: skip
    edge = int(rng.integers(4))
    start = [(tip[0], -height // 4), (width + width // 4, tip[1]), (tip[0], height + height // 4),
             (-width // 4, tip[1])][edge]  # fmt: skip
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
        shape = crop_shape(rng, int(rng.integers(96, 320)))
        save(draw_background(rng, *shape), f"drawn-{i:05d}", "drawn", f"drawn:{split}:{i}")
    for i in range(counts.hand):
        shape = crop_shape(rng, int(rng.integers(128, 320)))
        save(hand_scene(rng, *shape), f"hand-{i:05d}", "hand", f"hand:{split}:{i}")
    for i in range(counts.plain):
        shape = crop_shape(rng, int(rng.integers(96, 320)))
        save(plain_surface(rng, *shape), f"plain-{i:05d}", "plain", f"plain:{split}:{i}")
    log.info("%s: %d background crops in %s", split, len(made), folder)
    return made
