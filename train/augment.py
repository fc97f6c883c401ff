"""Training augmentation: from studio and web photos towards a camera over a bin.

Placement on grounds (an item is small and off-centre on a tray, bag or bin floor): drawn bin
floors, bags and textured grounds, and real ones when the run has them (the empty corners of
the training split's tray and pill photos: stained kraft paper, countertops, palms), so the model
learns that a stain or a palm under an item is ground, not food or medicine. Then perspective,
lighting and colour casts, greyscale and flat night frames from infrared cameras (before blur
and noise, as a night sensor adds its noise to a flat picture), blur, sensor noise, JPEG
artefacts and partial occlusion. Training only: inference uses vision.preprocess alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import albumentations as A
import cv2
import numpy as np

from train.surfaces import plain_surface

Image = np.ndarray


def textured_ground(rng: np.random.Generator, height: int, width: int) -> Image:
    """Grass, pavement or gravel: fine high-contrast texture that must not read as an item
    (a green textured ground is not food waste)."""
    kind = rng.integers(3)
    if kind == 0:  # grass: greens with short blades
        base = np.array([rng.uniform(20, 70), rng.uniform(80, 170), rng.uniform(30, 90)])
    else:  # pavement or gravel: greys and browns
        grey = rng.uniform(70, 190)
        base = grey + rng.normal(0, 10, 3)
    fine = rng.normal(0, rng.uniform(12, 35), (height, width, 1))
    image = (base[None, None, :] + fine).astype(np.float32)
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    strokes = int(height * width / rng.uniform(60, 200))
    for _ in range(strokes if kind == 0 else strokes // 3):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        length = rng.uniform(3, 14) if kind == 0 else rng.uniform(1, 3)
        angle = rng.uniform(0, np.pi)
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        tone = np.clip(base * rng.uniform(0.5, 1.5), 0, 255)
        cv2.line(canvas, (x, y), end, tuple(int(t) for t in tone), 1, cv2.LINE_AA)
    return np.asarray(cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.0)), np.uint8)


def draw_background(rng: np.random.Generator, height: int, width: int) -> Image:
    """A bin floor, bag or tray (draw_floor); one in four is a textured ground (grass,
    pavement, gravel) instead, and one in five a plain surface (a steel or plastic floor,
    `train.surfaces.plain_surface`)."""
    pick = rng.random()
    if pick < 0.25:
        return textured_ground(rng, height, width)
    if pick < 0.45:
        return plain_surface(rng, height, width)
    return draw_floor(rng, height, width)


def draw_floor(rng: np.random.Generator, height: int, width: int) -> Image:
    """A bin floor, bag or tray: a base colour, smooth shading, coarse texture, a few edges."""
    base = rng.integers(20, 200, 3).astype(np.float32)
    if rng.random() < 0.5:  # most bins and bags are grey, black, green or blue
        base = (np.full(3, rng.integers(15, 160)) + rng.normal(0, 12, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height) * rng.uniform(-60, 60)
    small = rng.normal(0, rng.uniform(4, 30), (max(2, height // 16), max(2, width // 16), 1))
    texture = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    image = base[None, None, :] + ramp[:, :, None] + texture.reshape(height, width, -1)
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 4)):  # bin rims, tray edges, bag folds
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        shade = int(rng.integers(0, 255))
        cv2.line(canvas, p1, p2, (shade, shade, shade), int(rng.integers(1, 6)), cv2.LINE_AA)
    return np.asarray(canvas, np.uint8)


def item_mask(image: Image) -> np.ndarray | None:
    """A soft foreground mask (H×W float 0..1) when the photo has a plain studio background
    (its border is nearly one colour), else None."""
    border = np.concatenate(
        [
            image[:4].reshape(-1, 3),
            image[-4:].reshape(-1, 3),
            image[:, :4].reshape(-1, 3),
            image[:, -4:].reshape(-1, 3),
        ]
    )
    colour = np.median(border, axis=0)
    spread = np.median(np.abs(border.astype(np.float32) - colour).sum(axis=1))
    if spread > 18:
        return None
    distance = np.abs(image.astype(np.float32) - colour).sum(axis=2)
    mask = np.clip((distance - (spread + 12)) / 30.0, 0, 1).astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
    if mask.mean() < 0.03:  # nothing stands out: keep the whole photo
        return None
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), 1.5), np.float32)


def place_on_background(
    image: Image,
    rng: np.random.Generator,
    max_margin: float = 0.5,
    ground: Callable[[np.random.Generator, int, int], Image] | None = None,
    size: tuple[float, float] | None = None,
) -> Image:
    """`place_item`'s photo alone."""
    return place_item(image, rng, max_margin, ground, size)[0]


def place_item(
    image: Image,
    rng: np.random.Generator,
    max_margin: float = 0.5,
    ground: Callable[[np.random.Generator, int, int], Image] | None = None,
    size: tuple[float, float] | None = None,
) -> tuple[Image, tuple[int, int, int, int]]:
    """Paste the item, scaled down, at a random place on a drawn background (`ground`, default
    draw_background). A plain studio background is cut away; other photos get feathered edges
    so no hard rectangle shows. The result is roughly square, as crops around a dropped item
    are. `size`: the item's longest side as a share of the square's side, drawn from this
    range (a small item on a wide floor, as a whole camera frame shows it); by default the
    item fills most of the square (`max_margin`). Also the item's box in the result (left,
    top, width, height): where its mask is at least half opaque (a cut-out studio item is
    smaller than the rectangle pasted)."""
    h, w = image.shape[:2]
    side = max(h, w) if size else int(max(h, w) * (1 + rng.uniform(0.05, max_margin)))
    canvas = (ground or draw_background)(rng, side, side)
    if size is None:
        scale = rng.uniform(0.6, 1.0) * min(side / w, side / h) * 0.95
    else:
        scale = rng.uniform(*size)
    new_w, new_h = max(8, int(w * scale)), max(8, int(h * scale))
    item = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    edge = int(side * 0.12) if size else 0  # a small item stays clear of the borders
    top = int(rng.integers(edge, max(edge, side - new_h - edge) + 1))
    left = int(rng.integers(edge, max(edge, side - new_w - edge) + 1))
    mask = item_mask(item)
    if mask is None:
        feather = max(1, int(min(new_w, new_h) * rng.uniform(0.03, 0.12)))
        mask = np.zeros((new_h, new_w), np.float32)
        mask[feather : -feather or None, feather : -feather or None] = 1.0
        mask = cv2.GaussianBlur(mask, (0, 0), feather / 2 + 0.1)
    alpha = mask[:, :, None]
    region = canvas[top : top + new_h, left : left + new_w].astype(np.float32)
    blended = alpha * item.astype(np.float32) + (1 - alpha) * region
    canvas[top : top + new_h, left : left + new_w] = blended.astype(np.uint8)
    rows, cols = np.nonzero(mask >= 0.5)
    if not len(rows):  # a mask faint everywhere: the rectangle pasted
        return canvas, (left, top, new_w, new_h)
    x0, y0 = int(cols.min()), int(rows.min())
    box = (left + x0, top + y0, int(cols.max()) + 1 - x0, int(rows.max()) + 1 - y0)
    return canvas, box


def flat_grey(image: Image, contrast: float, brightness: float) -> Image:
    """Grey, contrast scaled and brightness lifted: what an infrared camera at night sees."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    flat = cv2.convertScaleAbs(grey, alpha=contrast, beta=brightness)
    return np.asarray(cv2.cvtColor(flat, cv2.COLOR_GRAY2BGR), np.uint8)


def night_check(image: Image) -> Image:
    """The night check's fixed transform: grey, contrast 0.7, brightness +30 (what a night/IR
    camera makes of a daylight photo, roughly; real IR differs)."""
    return flat_grey(image, 0.7, 30)


def night_frame(image: Image, **_: object) -> Image:
    """An infrared camera at night, for training: grey, contrast 0.4-0.9, brightness +0-60
    (the night check's 0.7 and +30 inside, harder frames on both sides)."""
    rng = np.random.default_rng(int(image[::7, ::7].sum()) % (2**32))
    return flat_grey(image, float(rng.uniform(0.4, 0.9)), float(rng.uniform(0, 60)))


def real_ground(grounds: Sequence[Image]) -> Callable[[np.random.Generator, int, int], Image]:
    """A ground drawer over real photos of empty ground: a random square of one of them, turned
    and mirrored at random, resized to the size asked."""

    def draw(rng: np.random.Generator, height: int, width: int) -> Image:
        photo = grounds[int(rng.integers(len(grounds)))]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        square = np.rot90(photo[top : top + side, left : left + side], int(rng.integers(4)))
        if rng.random() < 0.5:
            square = square[:, ::-1]
        out = cv2.resize(np.ascontiguousarray(square), (width, height),
                         interpolation=cv2.INTER_LINEAR)  # fmt: skip
        return np.asarray(out, np.uint8)

    return draw


def field_pipeline(strength: float = 1.0, night: bool = True, occlude: bool = True) -> A.Compose:
    """The albumentations part: geometry, light, colour, blur, noise, JPEG, occlusion, IR
    (`night=False`: never grey, for a daylight view whose night twin is made apart;
    `occlude=False`: no dropped-out patches, which could hide a small item whole)."""
    s = strength
    n = s if night else 0.0
    o = s if occlude else 0.0
    return A.Compose([
        A.RandomRotate90(p=0.5),
        A.HorizontalFlip(p=0.5),
        A.Affine(rotate=(-25, 25), scale=(0.85, 1.1), border_mode=cv2.BORDER_REFLECT_101,
                 p=0.6 * s),
        A.Perspective(scale=(0.02, 0.08), p=0.4 * s),
        A.OneOf([
            A.RandomBrightnessContrast(brightness_limit=0.35, contrast_limit=0.35),
            A.RandomGamma(gamma_limit=(60, 150)),
            A.Illumination(intensity_range=(0.05, 0.2)),
        ], p=0.8 * s),
        A.OneOf([
            A.HueSaturationValue(hue_shift_limit=12, sat_shift_limit=40, val_shift_limit=25),
            A.PlanckianJitter(),
        ], p=0.5 * s),
        A.RandomShadow(shadow_roi=(0, 0, 1, 1), p=0.2 * s),
        A.ToGray(p=0.15 * n),  # infrared night frames are grey
        A.Lambda(image=night_frame, p=0.3 * n),  # ... and flat: grey, low contrast, lifted
        A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.1, 0.3),
                        hole_width_range=(0.1, 0.3), fill="random_uniform", p=0.2 * o),
        A.OneOf([
            A.GaussianBlur(sigma_limit=(0.3, 1.8)),
            A.MotionBlur(blur_limit=(3, 9)),
            A.Downscale(scale_range=(0.3, 0.7)),
        ], p=0.4 * s),
        A.OneOf([
            A.GaussNoise(std_range=(0.02, 0.1)),
            A.ISONoise(intensity=(0.1, 0.5)),
        ], p=0.4 * s),
        A.ImageCompression(quality_range=(30, 90), p=0.5 * s),
    ])  # fmt: skip


# of the placements: the item small on a wide floor (a butt, a stone). 0.1 is the shipped
# lite0-waste-2.8's; 0 reproduces 2.5 draw for draw; 0.25 is lite0-waste-2.7's (commit b8379e9),
# tried and not shipped
SMALL_SHARE = 0.1
SMALL_SIZE = (0.12, 0.4)  # ... its longest side as a share of the frame's


def make_augmenter(
    seed: int,
    place_probability: float = 0.7,
    grounds: Sequence[Image] = (),
    real_share: float = 0.3,
    night: bool = True,
    small_share: float = SMALL_SHARE,
) -> Callable[[Image], Image]:
    """A function BGR uint8 → augmented BGR uint8 (any size; vision.preprocess resizes).
    `grounds`: photos of real empty ground; `real_share` of the placements use one of them;
    `small_share` of them put the item small (`SMALL_SIZE`) on a wide floor;
    `night=False`: no grey or night frames."""
    rng = np.random.default_rng(seed)
    pipeline = field_pipeline(night=night)
    pipeline.set_random_seed(seed)
    unoccluded = field_pipeline(night=night, occlude=False)
    unoccluded.set_random_seed(seed + 1)
    real = real_ground(grounds) if grounds else None

    def augment(image: Image) -> Image:
        size = None
        if rng.random() < place_probability:
            ground = real if real is not None and rng.random() < real_share else None
            small = small_share > 0 and rng.random() < small_share  # no draw at 0: as 2.5
            size = SMALL_SIZE if small else None
            image = place_on_background(image, rng, ground=ground, size=size)
        out: Image = (pipeline if size is None else unoccluded)(image=image)["image"]
        return out

    return augment


def field_view_augmenter(seed: int) -> Callable[[Image], Image]:
    """The field-like view export and retrain choose their thresholds on: `make_augmenter`'s,
    the item placed at the usual sizes only (never small, whatever `SMALL_SHARE`), so that a
    threshold means the same for every recipe."""
    return make_augmenter(seed, small_share=0.0)
