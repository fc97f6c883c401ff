"""Read a whole photo by its ground: a small item on a plain floor found and read close up, a
quiet plain floor answered "no item".

A camera over a bin frames the whole floor, and a cigarette butt or a stone is a small part of
that photo; the model, trained on crops an item fills, reads such a photo poorly (on
`bench.surfaces`' placed test items, 47.6 % macro recall with the item's side 15 % of the
photo's, 93.5 % at 50 %). The edge pipeline crops each item by change detection against the
frame before the drop-off; a single photo has no such frame, so `find_item` uses the ground
itself:

1. the photo, shrunk to `work_side` and blurred, in Lab colour;
2. the ground: a smooth (quadratic) surface fitted per channel to the border ring, refitted
   without the ring pixels that fit it worst (an item near the edge, a bolt), so an unevenly lit
   floor is still one ground;
3. what differs from that ground by more than `spread_factor` × the ring's own 95th-percentile
   difference (and at least `min_contrast` Lab units) is item; specks are opened away, an
   item's parts closed together;
4. only a clear answer counts: a plain ground (the ring's 95th-percentile difference from it at
   most `max_spread`: a plate, steel, a tread plate; not a heap of fruit, a shelf or a busy
   studio photo, where the most extreme specks would pass for an item), the ring itself almost
   all ground (`ring_busy`: an item across the edge), something at least `min_area` of the
   photo, and everything found together (one box round all of it) at most `max_side` of the
   photo's side. Otherwise no box, and the photo is read whole as before.

`read_photos` reads every photo whole first. Where the whole photo is an item (not "no item")
and `find_item` gives a box, the square round it (the item `fill` of its side, as in the
training's crops) is read too. Whether there is an item stays the whole photo's answer; what it
is, a weighted mean of the two readings' item probabilities, the close-up counting twice
(`close_up_weight`, `Classifier.what_it_is`): it sees the item at the scale the model learned
from. So for a photo the model reads as an item, zooming only changes what the item is read as.
(Reading the close-up alone, or the mean of the two readings whole, background included, with a
close-up read as "no item" left out, gained less on the smallest items; the plain mean of the
two, shipped first, read small-item sites worse, most of all after a retrain had made the whole
photo's reading more confident: model card, "Small items read close up", "The close-up counts
twice".)

Where the ground gives no box (not plain: a perforated plate, tiles, a stained or busy floor;
or nothing on it clear enough) and the whole photo is an item, the model itself says where it
sees the item: its class activations (vision.item_map: each cell of the last feature map, its
best item logit less its "no item" logit), the cells round the peak that reach
`activation_share` of it. If they span at most `activation_max_side` of the photo and the
whole reading is unsure (its top category below `activation_below`), their square is read close
up in the same way (`Reading.located_by` "activation", else "ground"). The last feature map is
coarse (7 × 7 cells for the whole photo), so the box is loose round a small item: the close-up's
own map places it again, and so on while the square shrinks, `activation_passes` in all (model
card, "Small items placed again on the close-up's own map"). The same coarseness makes the box
round an item a third to a half of the side wider than the ground's `max_side`: held to that,
such an item, unsure at night, was read whole (model card, "Large items placed too"). A box
wider than `max_side` is read as it is, not placed again.
On bench.surfaces' floors with the item a sixth to a half of the photo's side a single pass
added 1-4 points of macro recall by day (two draws; at night mixed at a sixth, up at a quarter
and more), and cost 1.3 points on the simulator's crops at hard night (model card, "Small items
placed by the model's own activations"). For a photo read as an item it never decides whether
there is one; for one read as "no item", see below.

In two cases the ground has a say in whether there is an item at all. First, a tiny item (a
cigarette butt, a stone: a twelfth of the frame's side or less) can leave the whole photo
looking like an empty floor, and the model answers "no item". Where the ground still shows a
clear item (`look` gives a box), its close-up is read, and if the close-up is an item the photo
is one, read as its close-up reads it (`Reading.found_close_up`: the whole photo's item
probabilities describe the floor it took for empty, not the item). A close-up of
a stain or a scuff that the model reads as "no item" leaves the photo empty: the ground alone
never makes an empty floor an item (`ZoomParams.close_up_finds`; model card, "Tiny items the
whole photo misses"). Where a plain ground gives no box (a stained floor: its stains raise the
item limit, or spread what is found wider than `max_side`) but is not quiet either, the model's
activations are asked instead: the cells that look more like an item than like ground, if any,
are placed as above and their close-up read the same way (`ZoomParams.activation_finds`; a
floor no cell of which looks like an item gets no box). A ground that is not plain is not
asked: there a hand or a palm, the false triggers, was what the activations found (model card,
"Tiny items the activations find").

Second, a **quiet** photo — the ground
plain and not one pixel anywhere past the item limit of step 3 (`look`) — whose whole reading
still gives "no item" at least `quiet_background` of its probability is answered "no item"
(`Reading.ground_only`). A floor the model has never seen (a steel tread plate nobody drew for
training) is read as some texture-like item with a few per cent left for "no item"; the ground
says plainly that nothing lies on it. What it costs: a plain sheet filling the whole photo (paper,
cloth) looks just like such a floor, and a few studio close-ups of one are answered "no item"
(model card, "A quiet floor is no item").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from vision.classifier import Classifier
from vision.item_map import peak_cells
from vision.prediction import Box, Prediction
from vision.preprocess import Image, input_to_photo

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ZoomParams:
    """How `find_item` tells an item from the ground, and how close `read_photos` reads it."""

    work_side: int = 160  # the photo's longest side while searching, pixels
    ring: float = 0.08  # the border ring that shows the ground, share of the shorter side
    spread_factor: float = 2.5  # item: this many times the ring's 95th-percentile difference
    min_contrast: float = 10.0  # ... and at least this far from the ground (Lab units)
    max_spread: float = 15.0  # the ring's 95th-percentile difference above this: not plain
    ring_busy: float = 0.04  # more of the ring than this found as item: no clear ground
    min_area: float = 0.002  # a part smaller than this share of the photo is a speck
    max_side: float = 0.45  # what is found wider or taller than this share: read whole
    fill: float = 0.7  # the item's longest side as a share of the zoomed crop's side
    min_crop: float = 0.2  # the crop's side at least this share of the photo's longest side
    # a quiet photo whose whole reading gives "no item" at least this is "no item"; None: never
    quiet_background: float | None = 0.02
    # a photo read "no item" whole, a small item found on its ground and its close-up an item:
    # an item (module doc)
    close_up_finds: bool = True
    # what the item is: the close-up's item probabilities weigh this, the whole photo's the rest
    # (the close-up sees the item at the scale the model was trained on; 0.5, the plain mean,
    # read the benches' small-item sites 0.8-3.6 points worse: model card, "The close-up counts
    # twice")
    close_up_weight: float = 2 / 3
    # where the ground gives no box (not plain, or nothing found on it), the model's own class
    # activations place the item (vision.item_map): read close up the cells whose margin is at
    # least `activation_share` of the peak's, if they are at most `activation_max_side` of its side
    activation: bool = True
    activation_share: float = 0.5
    # the widest the activations' box may be, a share of the photo's side: wider than the
    # ground's `max_side`, for the first box round an item a third to a half of the
    # side spans more cells than the item (held to 0.45, bench.surfaces read items half the
    # side at night 2.7-3.8 points worse: model card, "Large items placed too")
    activation_max_side: float = 0.6
    # how many times the activations place that close-up: on the whole photo's map, then on
    # each close-up's own map while its square shrinks (a 7 x 7 map of the whole photo gives a
    # loose box round a small item; the close-up's map, finer on it, a tighter one)
    activation_passes: int = 3
    # ... only where the whole photo's reading is unsure: its top category below this (a sure
    # reading of a large item, the CAM peaking on a part of it, would only be blurred: on the
    # pooled test without it, hazardous items' wrong drops flagged 97.9 -> 95.0 %); above 1:
    # every photo the ground leaves
    activation_below: float = 0.9
    # a photo read "no item" whole whose ground is plain, not quiet, and gives no box: the
    # activations place what the model sees most like an item (nothing where no cell does),
    # and a close-up read as an item makes the photo one, as `close_up_finds` does for the
    # ground's box (only with `close_up_finds`: without it a "no item" photo stays one)
    activation_finds: bool = True

    def __post_init__(self) -> None:
        if self.work_side < 32:
            raise ValueError(f"work_side must be 32 or more, got {self.work_side}")
        if self.activation_passes < 1:
            raise ValueError(f"activation_passes must be 1 or more, got {self.activation_passes}")
        if self.activation_below <= 0:
            raise ValueError(f"activation_below must be positive, got {self.activation_below}")
        if not 0 <= self.close_up_weight <= 1:
            raise ValueError(f"close_up_weight must be 0 to 1, got {self.close_up_weight}")
        for name in (
            "ring",
            "ring_busy",
            "min_area",
            "max_side",
            "fill",
            "min_crop",
            "activation_share",
            "activation_max_side",
        ):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.quiet_background is not None and not 0 < self.quiet_background <= 1:
            raise ValueError(
                f"quiet_background must be in (0, 1] or None, got {self.quiet_background}"
            )
        if self.spread_factor <= 0 or self.min_contrast < 0 or self.max_spread <= 0:
            raise ValueError(
                "spread_factor and max_spread must be positive and min_contrast not negative"
            )


@dataclass(frozen=True)
class Reading:
    """What a photo was read as (`prediction`), the box of the item read close up (None: the
    photo was read whole), what reading it whole gave (`whole`) and whether the photo was
    answered "no item" because its ground is quiet (`ground_only`), or an item although the
    whole photo read as "no item", because the close-up found one (`found_close_up`; module
    doc)."""

    prediction: Prediction
    item_box: Box | None
    whole: Prediction
    # what placed `item_box`: "ground" (look) or "activation" (the model's class activations)
    located_by: str | None = None

    @property
    def ground_only(self) -> bool:
        """ "No item" although the whole photo read as an item: only the quiet rule does that."""
        return self.prediction.is_background and not self.whole.is_background

    @property
    def found_close_up(self) -> bool:
        """An item although the whole photo read as "no item": only a close-up does that."""
        return self.whole.is_background and not self.prediction.is_background


@dataclass(frozen=True)
class Ground:
    """What `look` makes of a photo's ground: `plain` (the border ring fits a smooth ground),
    `quiet` (plain, and nothing anywhere stands out from it) and the `box` round a small item
    on it (None: none found, or the ground not plain)."""

    plain: bool
    quiet: bool
    box: Box | None


def _design(xs: Floats, ys: Floats) -> Floats:
    """Terms of a quadratic surface over normalised coordinates."""
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, ys * ys, xs * ys], axis=1)


def _ground_distance(lab: Floats, border: npt.NDArray[np.bool_]) -> Floats:
    """Each pixel's Lab distance from a quadratic ground fitted to the border ring."""
    height, width = border.shape
    ys, xs = np.mgrid[0:height, 0:width]
    terms = _design(xs.ravel() / width - 0.5, ys.ravel() / height - 0.5)
    pixels = lab.reshape(-1, 3)
    ring = border.ravel()
    coef, *_ = np.linalg.lstsq(terms[ring], pixels[ring], rcond=None)
    distance = np.linalg.norm(pixels - terms @ coef, axis=1)
    fits = ring & (distance <= np.percentile(distance[ring], 80) * 2 + 1)
    coef, *_ = np.linalg.lstsq(terms[fits], pixels[fits], rcond=None)
    return np.asarray(np.linalg.norm(pixels - terms @ coef, axis=1).reshape(height, width))


def find_item(image: Image, params: ZoomParams | None = None) -> Box | None:
    """The box (photo pixels) round what lies on a plain floor in `image`, a BGR photo; None
    when the ground is not plain, nothing is found or what is found is not small."""
    return look(image, params).box


def look(image: Image, params: ZoomParams | None = None) -> Ground:
    """What the ground of `image`, a BGR photo, says: plain or not, quiet or not, and the box
    round a small item on it (module doc, steps 1-4)."""
    params = params or ZoomParams()
    height, width = image.shape[:2]
    scale = params.work_side / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float64)
    h, w = lab.shape[:2]
    band = max(2, round(params.ring * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    distance = _ground_distance(lab, border)
    spread = float(np.percentile(distance[border], 95))
    if spread > params.max_spread:
        return Ground(plain=False, quiet=False, box=None)
    limit = max(params.min_contrast, params.spread_factor * spread)
    beyond = distance > limit
    if not beyond.any():
        return Ground(plain=True, quiet=True, box=None)
    found = np.asarray(
        cv2.morphologyEx(
            cv2.morphologyEx(beyond.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)),
            cv2.MORPH_CLOSE,
            np.ones((7, 7), np.uint8),
        ),
        np.uint8,
    )
    if found[border].mean() > params.ring_busy:
        return Ground(plain=True, quiet=False, box=None)
    count, _, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    parts = [s for s in stats[1:count] if s[cv2.CC_STAT_AREA] >= params.min_area * h * w]
    if not parts:
        return Ground(plain=True, quiet=False, box=None)
    x0, y0 = min(int(s[0]) for s in parts), min(int(s[1]) for s in parts)
    x1, y1 = max(int(s[0] + s[2]) for s in parts), max(int(s[1] + s[3]) for s in parts)
    if max(x1 - x0, y1 - y0) > params.max_side * max(h, w):
        return Ground(plain=True, quiet=False, box=None)
    left, top = int(x0 / scale), int(y0 / scale)
    right, bottom = min(width, int(np.ceil(x1 / scale))), min(height, int(np.ceil(y1 / scale)))
    box = Box(x=left, y=top, w=max(1, right - left), h=max(1, bottom - top))
    return Ground(plain=True, quiet=False, box=box)


def zoom_crop(image: Image, box: Box, params: ZoomParams | None = None) -> Image | None:
    """The square round `box` with the item `fill` of its side, kept inside the photo; None
    when that square would not fit (read the photo whole)."""
    square = zoom_square(image.shape[:2], box, params)
    return None if square is None else image_square(image, square)


def image_square(image: Image, square: tuple[int, int, int]) -> Image:
    """The part of `image` that `square` (left, top, side) covers."""
    left, top, side = square
    return image[top : top + side, left : left + side]


def zoom_square(
    shape: tuple[int, ...], box: Box, params: ZoomParams | None = None
) -> tuple[int, int, int] | None:
    """`zoom_crop`'s square (left, top, side) in a photo of `shape` (height, width), or None."""
    params = params or ZoomParams()
    height, width = shape[:2]
    side = max(max(box.w, box.h) / params.fill, params.min_crop * max(height, width))
    if side > min(height, width):
        return None
    side_px = round(side)
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    left = round(min(max(cx - side / 2, 0), width - side_px))
    top = round(min(max(cy - side / 2, 0), height - side_px))
    return left, top, side_px


def read_photos(
    classifier: Classifier, images: Sequence[Image], params: ZoomParams | None = None
) -> list[Reading]:
    """Each whole photo's reading, a small item on a plain floor read close up (found there
    when the whole photo missed it), one the model's activations place on another ground read
    close up too, and a quiet floor answered "no item" (module doc)."""
    params = params or ZoomParams()
    if params.activation:  # the same predictions, with where the model sees each item
        predictions, maps = classifier.classify_with_maps(images)
    else:
        predictions, maps = classifier.classify(images), [None] * len(images)
    readings = [Reading(p, None, p) for p in predictions]
    close: list[tuple[int, Box, Image, str]] = []
    unplaced: list[int] = []  # items the ground gave no close-up for
    for i, (image, reading) in enumerate(zip(images, readings, strict=True)):
        empty = reading.whole.is_background
        if empty and not params.close_up_finds:
            continue
        ground = look(image, params)
        if not empty and ground.quiet and _no_item_likely(reading.whole, params):
            readings[i] = Reading(replace(reading.whole, is_background=True), None, reading.whole)
        elif ground.box is not None and (crop := zoom_crop(image, ground.box, params)) is not None:
            close.append((i, ground.box, crop, "ground"))
        elif empty:
            # on a plain ground that is not quiet (stains raised its item limit or spread what
            # it found), what the whole photo missed, if the model sees it anywhere; a ground
            # that is not plain (a hand, a palm, a busy surface: the false triggers) stays empty
            if params.activation_finds and ground.plain and not ground.quiet:
                unplaced.append(i)
        elif max(reading.whole.category_probabilities.values()) < params.activation_below:
            unplaced.append(i)
    placed = _placed_by_activation(classifier, images, unplaced, maps, params)
    for i, (box, _) in placed.items():
        crop = zoom_crop(images[i], box, params)
        if crop is not None:
            close.append((i, box, crop, "activation"))
    if close:
        # a close-up a placing pass read already is not read again
        known = {i: prediction for i, (_, prediction) in placed.items() if prediction is not None}
        unread = [(i, crop) for i, _, crop, _ in close if i not in known]
        fresh = classifier.classify([crop for _, crop in unread]) if unread else []
        known.update(zip([i for i, _ in unread], fresh, strict=True))
        for i, box, _, how in close:
            prediction = known[i]
            whole = readings[i].whole
            if not whole.is_background:
                read = classifier.what_it_is(whole, [prediction], params.close_up_weight)
                readings[i] = Reading(read, box, whole, how)
            elif not prediction.is_background:  # the whole photo missed what the close-up found
                readings[i] = Reading(prediction, box, whole, how)
    return readings


# a pass's square must be under this share of the last one's side, or the last one stays
SHRINK = 0.95


def _placed_by_activation(
    classifier: Classifier,
    images: Sequence[Image],
    indices: Sequence[int],
    maps: Sequence[npt.NDArray[np.float32] | None],
    params: ZoomParams,
) -> dict[int, tuple[Box, Prediction | None]]:
    """Where the activations place the item in each photo of `indices`: the box on the whole
    photo's map (`activation_box`), then, where that box is no wider than `max_side`, up to
    `activation_passes` in all, the box on the map of the close-up that box gives, while the
    close-up's square shrinks. With each box, the reading of its close-up where a pass read it
    (a pass reads the maps and the predictions together), else None."""
    boxes: dict[int, tuple[Box, Prediction | None]] = {}
    for i in indices:
        margin = maps[i]
        box = None if margin is None else activation_box(margin, images[i], classifier, params)
        if box is not None:
            boxes[i] = box, None
    # a first box wider than the ground's limit is read as it is: placed again, the close-up's
    # map of an item that fills most of it cuts it to a part
    moving = [i for i, (box, _) in boxes.items()
              if max(box.w, box.h) <= params.max_side * max(images[i].shape[:2])]  # fmt: skip
    for _ in range(params.activation_passes - 1):
        squares = {
            i: square
            for i in moving
            if (square := zoom_square(images[i].shape, boxes[i][0], params)) is not None
        }
        crops = [image_square(images[i], square) for i, square in squares.items()]
        close_reads, close_maps = classifier.classify_with_maps(crops) if crops else ([], [])
        still = []
        for (i, (left, top, _)), crop, prediction, margin in zip(
            squares.items(), crops, close_reads, close_maps, strict=True
        ):
            boxes[i] = boxes[i][0], prediction  # this close-up is read
            cells = None if margin is None else _cells_box(margin, crop.shape, classifier, params)
            if cells is None:
                continue
            x0, y0, x1, y1 = cells
            box = Box(x=left + int(x0), y=top + int(y0), w=max(1, round(x1 - x0)),
                      h=max(1, round(y1 - y0)))  # fmt: skip
            tighter = zoom_square(images[i].shape, box, params)
            if tighter is not None and tighter[2] < SHRINK * crop.shape[0]:
                boxes[i] = box, None  # a new close-up, not read yet
                still.append(i)
        moving = still
    return boxes


def activation_box(
    margin: npt.NDArray[np.float32], image: Image, classifier: Classifier, params: ZoomParams
) -> Box | None:
    """The box (photo pixels) round the cells where the model sees the item (`peak_cells`), or
    None where there are none or they are wider or taller than `activation_max_side` of the
    photo."""
    cells = _cells_box(margin, image.shape, classifier, params)
    if cells is None:
        return None
    x0, y0, x1, y1 = cells
    if max(x1 - x0, y1 - y0) > params.activation_max_side * max(image.shape[:2]):
        return None
    return Box(x=int(x0), y=int(y0), w=max(1, round(x1 - x0)), h=max(1, round(y1 - y0)))


def _cells_box(
    margin: npt.NDArray[np.float32],
    shape: tuple[int, ...],
    classifier: Classifier,
    params: ZoomParams,
) -> tuple[float, float, float, float] | None:
    """The peak cells (`peak_cells`) as a box (left, top, right, bottom) in the pixels of an
    image of `shape`; None where there are none or they cover less than a pixel."""
    cells = peak_cells(margin, params.activation_share)
    if cells is None:
        return None
    rows, cols = margin.shape
    in_h, in_w = classifier.metadata.preprocess.input_size
    left, top, right, bottom = cells
    x0, y0, x1, y1 = input_to_photo(
        (left * in_w / cols, top * in_h / rows, right * in_w / cols, bottom * in_h / rows),
        (int(shape[0]), int(shape[1])),
        classifier.metadata.preprocess,
    )
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1, y1


def _no_item_likely(whole: Prediction, params: ZoomParams) -> bool:
    """Whether the whole reading leaves "no item" enough probability for a quiet ground to
    decide it (a model without a `background` output always gives 0)."""
    return params.quiet_background is not None and whole.background >= params.quiet_background
