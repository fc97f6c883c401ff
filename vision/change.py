"""Change detection inside a bin's region of interest (pure functions on arrays).

`motion` measures how much of the region moved between two consecutive frames (it drives the
trigger); `changed_regions` compares the frame before a drop-off with the settled frame after it
and returns the boxes of what is new. Both work on blurred greyscale; `changed_regions` first
matches the brightness of the two frames inside the region (a light switched on, a cloud), so
only things that changed shape or colour count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.prediction import Box

Mask = npt.NDArray[np.uint8]
Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ChangeParams:
    """How different a pixel must be, and how large a region, to count as a new item."""

    threshold: int = 28  # grey levels, after blur and brightness matching
    blur: int = 5  # odd kernel size of the Gaussian blur
    open_kernel: int = 3  # removes specks (noise)
    close_kernel: int = 11  # joins the parts of one item
    min_area: float = 0.003  # share of the region a new item must cover
    max_regions: int = 8
    pad: float = 0.12  # each box grows by this share of its size on every side

    def __post_init__(self) -> None:
        if self.blur % 2 == 0 or self.blur < 1:
            raise ValueError(f"blur must be an odd kernel size, got {self.blur}")
        if not 0 < self.min_area < 1:
            raise ValueError(f"min_area is a share of the region in (0, 1), got {self.min_area}")


def roi_mask(shape: tuple[int, int], polygon: Sequence[tuple[float, float]]) -> Mask:
    """A 0/255 mask of a polygon given in pixels (height, width = shape)."""
    if len(polygon) < 3:
        raise ValueError(f"a region needs at least 3 points, got {len(polygon)}")
    mask = np.zeros(shape, np.uint8)
    points = np.round(np.asarray(polygon, np.float64)).astype(np.int32)
    cv2.fillPoly(mask, [points], 255)
    if not mask.any():
        raise ValueError("the region of interest lies outside the frame")
    return mask


def grey(frame: Frame, blur: int = 5) -> Frame:
    """Blurred greyscale of a BGR (or already grey) frame."""
    image = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return np.asarray(cv2.GaussianBlur(image, (blur, blur), 0), np.uint8)


def motion(previous: Frame, current: Frame, mask: Mask, threshold: int = 20) -> float:
    """Share of the region whose grey level moved by more than `threshold` (inputs: `grey`),
    after matching the two frames' brightness, so a light switched on is not motion."""
    diff = cv2.absdiff(_match_brightness(previous, current, mask), current)
    moving = (diff > threshold) & (mask > 0)
    return float(moving.sum()) / max(1, int((mask > 0).sum()))


def _match_brightness(before: Frame, after: Frame, mask: Mask) -> Frame:
    inside = mask > 0
    a, b = float(np.median(after[inside])), float(np.median(before[inside]))
    gain = a / b if b > 8 else 1.0
    return np.asarray(np.clip(before.astype(np.float32) * gain, 0, 255), np.uint8)


def change_mask(before: Frame, after: Frame, mask: Mask, params: ChangeParams) -> Mask:
    """0/255 pixels that differ between two blurred grey frames, cleaned by morphology."""
    diff = cv2.absdiff(_match_brightness(before, after, mask), after)
    changed = np.where((diff > params.threshold) & (mask > 0), 255, 0).astype(np.uint8)
    opened = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((params.open_kernel,) * 2, np.uint8))
    closed = cv2.morphologyEx(
        opened, cv2.MORPH_CLOSE, np.ones((params.close_kernel,) * 2, np.uint8)
    )
    return np.asarray(closed, np.uint8)


def changed_share(
    before: Frame, after: Frame, mask: Mask, params: ChangeParams | None = None
) -> float:
    """Share of the region that differs between two BGR frames (a bin emptied or swapped
    changes most of it; a dropped item a small part)."""
    params = params or ChangeParams()
    changed = change_mask(grey(before, params.blur), grey(after, params.blur), mask, params)
    return float((changed > 0).sum()) / max(1, int((mask > 0).sum()))


def changed_regions(
    before: Frame, after: Frame, mask: Mask, params: ChangeParams | None = None
) -> list[Box]:
    """Boxes (largest first) of what is new in `after` compared with `before`, both BGR frames
    of the same size; nothing new gives an empty list."""
    params = params or ChangeParams()
    if before.shape != after.shape:
        raise ValueError(f"frames differ in size: {before.shape} vs {after.shape}")
    changed = change_mask(grey(before, params.blur), grey(after, params.blur), mask, params)
    count, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    area = int((mask > 0).sum())
    height, width = mask.shape
    boxes = []
    for x, y, w, h, pixels in stats[1:count]:
        if pixels < params.min_area * area:
            continue
        dx, dy = int(w * params.pad), int(h * params.pad)
        x0, y0 = max(0, int(x) - dx), max(0, int(y) - dy)
        x1, y1 = min(width, int(x + w) + dx), min(height, int(y + h) + dy)
        boxes.append((int(pixels), Box(x=x0, y=y0, w=x1 - x0, h=y1 - y0)))
    boxes.sort(key=lambda pair: -pair[0])
    return [box for _, box in boxes[: params.max_regions]]


def crop(frame: Frame, box: Box) -> Frame:
    return frame[box.y : box.y + box.h, box.x : box.x + box.w]
