"""Plain surfaces with nothing on them: the empty floor of a sorting device, a bin wall, a steel
or plastic plate, as a camera over it sees them.

The other drawn grounds (`train.augment.draw_floor`) are dark-to-mid, mottled and crossed by
edges; a plain light plate, a brushed steel floor or a ribbed plastic one was never drawn, and
lite0-waste-2.3 called such a photo `paper` or `textile` with confidence 0.8-0.99. These
drawings teach the `background` output that an even surface — lit unevenly, shadowed, scuffed,
stained or perforated — is no item. They stay plain on purpose: a speck or a stain covers at
most a few per cent of the picture, never an item's share.

Training only; `bench.surfaces` scores a model on its own, separately drawn set.
"""

from __future__ import annotations

import cv2
import numpy as np

Image = np.ndarray


def _base_colour(rng: np.random.Generator) -> np.ndarray:
    """Mostly greys from near black to near white (steel, plastic, painted metal), else a
    muted tint (green or blue bins, beige plastic)."""
    grey = rng.uniform(15, 245)
    if rng.random() < 0.65:
        return np.full(3, grey) + rng.normal(0, 4, 3)
    tint = rng.normal(0, 15, 3)
    return np.asarray(np.clip(grey + tint, 10, 250), np.float64)


def _lighting(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A multiplicative light field: a ramp, a vignette, a soft highlight and a soft shadow
    edge, each present or not."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / max(1, width - 1) - 0.5, yy / max(1, height - 1) - 0.5
    light = np.ones((height, width), np.float32)
    if rng.random() < 0.7:  # light from one side
        angle = rng.uniform(0, 2 * np.pi)
        light *= 1 + (np.cos(angle) * u + np.sin(angle) * v) * rng.uniform(0.1, 0.9)
    if rng.random() < 0.4:  # vignette of the lens or a lamp above
        light *= 1 - rng.uniform(0.1, 0.6) * (u**2 + v**2) * 2
    if rng.random() < 0.35:  # a soft highlight (a lamp on a glossy plate)
        cx, cy = rng.uniform(-0.5, 0.5, 2)
        size = rng.uniform(0.08, 0.4)
        light *= 1 + rng.uniform(0.2, 0.8) * np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / size**2)
    if rng.random() < 0.35:  # the shadow of the bin rim or the camera housing
        angle = rng.uniform(0, 2 * np.pi)
        edge = np.cos(angle) * u + np.sin(angle) * v - rng.uniform(-0.4, 0.4)
        soft = rng.uniform(0.01, 0.15)
        light *= 1 - rng.uniform(0.2, 0.6) / (1 + np.exp(np.clip(-edge / soft, -60, 60)))
    return np.clip(light, 0.15, 2.0)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Additive surface texture: none, brushed steel, mottled plastic or fine grain."""
    kind = int(rng.integers(4))
    if kind == 0:
        return np.zeros((height, width), np.float32)
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    if kind == 1:  # brushed: streaks along one direction
        length = int(rng.integers(15, 81))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        turn = cv2.getRotationMatrix2D((length / 2, length / 2), float(rng.uniform(0, 180)), 1)
        turned = np.asarray(cv2.warpAffine(kernel, turn, (length, length)), np.float32)
        turned /= max(float(turned.sum()), 1e-6)
        streaks = cv2.filter2D(noise, -1, turned)
        return np.asarray(streaks / max(float(streaks.std()), 1e-6) * rng.uniform(3, 14))
    if kind == 2:  # mottled: low-frequency blotches
        small = rng.normal(0, 1, (max(2, height // 24), max(2, width // 24))).astype(np.float32)
        blotches = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        return np.asarray(blotches * rng.uniform(3, 12))
    return np.asarray(cv2.GaussianBlur(noise, (0, 0), 0.8) * rng.uniform(3, 10))


def _structure(rng: np.random.Generator, canvas: np.ndarray, base: np.ndarray) -> None:
    """Seams, ribs, perforations or screw heads, in place; often none."""
    height, width = canvas.shape[:2]
    kind = int(rng.integers(5))
    dark = tuple(float(c) for c in base * rng.uniform(0.3, 0.7))
    if kind == 1:  # panel seams
        for _ in range(int(rng.integers(1, 3))):
            if rng.random() < 0.5:
                x = int(rng.integers(0, width))
                cv2.line(canvas, (x, 0), (x, height), dark, int(rng.integers(1, 4)), cv2.LINE_AA)
            else:
                y = int(rng.integers(0, height))
                cv2.line(canvas, (0, y), (width, y), dark, int(rng.integers(1, 4)), cv2.LINE_AA)
    elif kind == 2:  # ribbed plastic: parallel stripes
        period = int(rng.integers(8, 30))
        shade = rng.uniform(0.8, 0.95)
        across = rng.random() < 0.5
        for at in range(int(rng.integers(0, period)), width if across else height, period):
            if across:
                canvas[:, at : at + max(1, period // 3)] *= shade
            else:
                canvas[at : at + max(1, period // 3)] *= shade
    elif kind == 3:  # perforated plate: a grid of holes
        step = int(rng.integers(10, 40))
        radius = max(1, int(step * rng.uniform(0.1, 0.3)))
        hole = tuple(float(c) for c in base * rng.uniform(0.05, 0.4))
        for y in range(int(rng.integers(0, step)), height, step):
            for x in range(int(rng.integers(0, step)), width, step):
                cv2.circle(canvas, (x, y), radius, hole, -1, cv2.LINE_AA)
    elif kind == 4:  # a few screw heads or rivets
        for _ in range(int(rng.integers(1, 5))):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(canvas, centre, int(rng.integers(2, 6)), dark, -1, cv2.LINE_AA)


def _dirt(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """Faint stains, scratches and specks, in place; each covers little of the picture."""
    height, width = canvas.shape[:2]
    side = min(height, width)
    for _ in range(int(rng.integers(0, 4))):  # stains: soft, translucent
        mask = np.zeros((height, width), np.float32)
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (
            max(2, int(side * rng.uniform(0.03, 0.12))),
            max(2, int(side * rng.uniform(0.03, 0.12))),
        )
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, side * 0.02))
        stain = (rng.uniform(-50, 10) + rng.normal(0, 6, 3)).astype(np.float32)
        canvas += soft[:, :, None] * stain[None, None, :] * rng.uniform(0.3, 0.8)
    for _ in range(int(rng.integers(0, 6))):  # scratches: thin and faint
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        span = side * rng.uniform(0.05, 0.3)
        angle = rng.uniform(0, 2 * np.pi)
        p2 = (int(p1[0] + span * np.cos(angle)), int(p1[1] + span * np.sin(angle)))
        shift = float(rng.uniform(-25, 25))
        line = tuple(float(c) for c in np.clip(canvas[p1[1], p1[0]] + shift, 0, 255))
        cv2.line(canvas, p1, p2, line, 1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 12))):  # specks of grit
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        shade = float(rng.uniform(20, 120))
        cv2.circle(canvas, centre, int(rng.integers(1, 3)), (shade, shade, shade), -1)


BARE_SHARE = 0.35
"""The share of plain surfaces drawn bare: one colour, evenly lit, and sensor noise. The rest
are lit unevenly and most carry texture, structure or dirt, so before lite0-waste-2.5 a bare
surface was about one draw in 250 (by the generator's probabilities), and 2.4 called an evenly
lit light plate `paper` (up to 0.97) and a mid-grey one `metal` (`bench.surfaces`, family
`flat`: 42.5 % "no item")."""


def _bare(rng: np.random.Generator, height: int, width: int) -> Image:
    """One colour under at most a gentle ramp (×0.9 to ×1.1 across the picture), plus
    sensor noise: an evenly lit plate or floor, nothing on it."""
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = _base_colour(rng)[None, None, :].astype(np.float32)
    if rng.random() < 0.5:
        across = rng.random() < 0.5
        along = np.linspace(1 - rng.uniform(0, 0.1), 1 + rng.uniform(0, 0.1),
                            width if across else height, dtype=np.float32)  # fmt: skip
        canvas *= (along[None, :] if across else along[:, None])[:, :, None]
    canvas += rng.normal(0, rng.uniform(1.5, 6), canvas.shape).astype(np.float32)
    return np.asarray(np.clip(canvas, 0, 255), np.uint8)


def plain_surface(rng: np.random.Generator, height: int, width: int) -> Image:
    """An empty plain surface (uint8 BGR, height × width): bare (`BARE_SHARE` of draws), or
    base colour × light field, plus texture, sometimes structure and dirt, and sensor noise."""
    if rng.random() < BARE_SHARE:
        return _bare(rng, height, width)
    base = _base_colour(rng)
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = base[None, None, :].astype(np.float32)
    if rng.random() < 0.6:
        _structure(rng, canvas, base)
    canvas += _texture(rng, height, width)[:, :, None]
    if rng.random() < 0.5:
        _dirt(rng, canvas)
    canvas *= _lighting(rng, height, width)[:, :, None]
    canvas += rng.normal(0, rng.uniform(1, 6), canvas.shape).astype(np.float32)
    return np.asarray(np.clip(canvas, 0, 255), np.uint8)
