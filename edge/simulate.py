"""`binwatch edge simulate`: a station video composed from real item photos, with ground truth.

Two bins side by side seen from above (720p, 10 fps). Each drop-off: a hand (a skin-toned arm)
reaches into a bin, leaves one to three items (photos from a dataset manifest, cut to soft
ellipses) and withdraws; some reach in and drop nothing. The light drifts slowly and is switched
once or twice; every frame has sensor noise. The truth JSON lists each drop-off's bin, frames,
items and the verdict it deserves, and the bins with their regions, so a config can be built.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.taxonomy import Category, load_profile

log = logging.getLogger(__name__)
Frame = npt.NDArray[np.uint8]
WIDTH, HEIGHT, FPS = 1280, 720, 10
BINS = [  # id, category, region (x, y, w, h)
    ("SIM-K", "kitchen", (90, 120, 500, 520)),
    ("SIM-R", "recyclable", (690, 120, 500, 520)),
]
SKIN = (120, 160, 215)  # BGR


@dataclass
class TruthItem:
    label: str
    category: str
    path: str
    box: tuple[int, int, int, int]  # x, y, w, h in the frame


@dataclass
class TruthDropoff:
    index: int
    bin: str
    bin_category: str
    start_frame: int  # the hand enters
    release_frame: int  # the items are down
    end_frame: int  # the hand is gone
    items: list[TruthItem] = field(default_factory=list)
    verdict: str = "empty"  # what a perfect classifier would say
    card: str | None = None


def _floor(rng: np.random.Generator, w: int, h: int, tint: tuple[int, int, int]) -> Frame:
    base = np.zeros((h, w, 3), np.float32)
    base[:] = tint
    base += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    blotches = cv2.GaussianBlur(
        rng.normal(0, 18, (h // 8, w // 8, 1)).astype(np.float32), (0, 0), 3
    )
    base += cv2.resize(blotches, (w, h))[..., None]
    return np.clip(base, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator) -> Frame:
    frame = _floor(rng, WIDTH, HEIGHT, (95, 100, 105))
    tints = {"kitchen": (60, 110, 70), "recyclable": (120, 90, 50)}
    for _, category, (x, y, w, h) in BINS:
        frame[y - 12 : y + h + 12, x - 12 : x + w + 12] = (40, 40, 40)  # the bin's rim
        frame[y : y + h, x : x + w] = _floor(rng, w, h, tints[category])
    return frame


def empty_scene(seed: int) -> Frame:
    """The station with nothing in its bins, as the simulator draws it (1280×720)."""
    return _background(np.random.default_rng(seed))


DRAWN = {  # label → how to draw it (colours BGR): a stand-in when no photos are at hand
    "plastic": ((200, 160, 60), "bottle"),
    "glass": ((90, 150, 60), "bottle"),
    "metal": ((180, 180, 190), "can"),
    "paper": ((235, 235, 225), "sheet"),
    "cardboard": ((90, 140, 190), "sheet"),
    "battery": ((40, 40, 200), "cell"),
    "medicine": ((220, 220, 240), "blister"),
    "food_waste": ((40, 120, 200), "blob"),
    "cigarette": ((200, 220, 235), "stub"),
    "residual": ((120, 120, 120), "blob"),
}


def _draw_item(label: str, size: int, rng: random.Random) -> Frame:
    colour, shape = DRAWN.get(label, ((128, 128, 128), "blob"))
    image = np.full((size, size, 3), 255, np.uint8)
    c = size // 2
    if shape == "bottle":
        cv2.rectangle(image, (c - size // 6, size // 4), (c + size // 6, size - 8), colour, -1)
        cv2.rectangle(image, (c - size // 14, 6), (c + size // 14, size // 4), colour, -1)
    elif shape == "can":
        cv2.rectangle(
            image, (c - size // 4, size // 6), (c + size // 4, size - size // 6), colour, -1
        )
        cv2.ellipse(image, (c, size // 6), (size // 4, size // 12), 0, 0, 360, (150, 150, 160), -1)
    elif shape == "sheet":
        cv2.rectangle(image, (8, size // 5), (size - 8, size - size // 5), colour, -1)
        for k in range(3):
            y = size // 3 + k * size // 8
            cv2.line(image, (size // 5, y), (size - size // 5, y), (120, 120, 120), 2)
    elif shape == "cell":
        cv2.rectangle(image, (c - size // 8, 10), (c + size // 8, size - 10), colour, -1)
        cv2.rectangle(image, (c - size // 8, 10), (c + size // 8, size // 4), (30, 30, 30), -1)
    elif shape == "blister":
        cv2.rectangle(image, (10, size // 4), (size - 10, size - size // 4), colour, -1)
        for k in range(4):
            cv2.circle(image, (size // 5 + k * size // 5, c), size // 12, (255, 255, 255), -1)
    elif shape == "stub":
        cv2.rectangle(
            image, (c - size // 3, c - size // 14), (c + size // 3, c + size // 14), colour, -1
        )
        cv2.rectangle(
            image,
            (c - size // 3, c - size // 14),
            (c - size // 8, c + size // 14),
            (60, 140, 220),
            -1,
        )
    else:
        points = [
            (
                c + int(rng.uniform(0.25, 0.45) * size * math.cos(a)),
                c + int(rng.uniform(0.25, 0.45) * size * math.sin(a)),
            )
            for a in np.linspace(0, 2 * math.pi, 9)[:-1]
        ]
        cv2.fillPoly(image, [np.array(points, np.int32)], colour)
    return image


def _item_sprite(
    row: dict[str, str], size: int, rng: random.Random
) -> tuple[Frame, npt.NDArray[np.float32]]:
    if "abs_path" in row:
        image = cv2.imread(row["abs_path"], cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read {row['abs_path']}")
    else:
        image = _draw_item(row["fine_label"], size, rng)
    h, w = image.shape[:2]
    scale = size / max(h, w)
    image = cv2.resize(
        image, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA
    )
    h, w = image.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(
        alpha,
        (w // 2, h // 2),
        (int(w * 0.47), int(h * 0.47)),
        rng.uniform(0, 180),
        0,
        360,
        1.0,
        -1,
    )
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2)
    return np.asarray(image, np.uint8), np.asarray(alpha, np.float32)


def item_crop(path: Path, seed: int, margin: int = 12) -> Frame:
    """One photo dropped on an empty bin floor as the simulator draws it (soft ellipse, 110-150
    px), cut out with a margin as the pipeline's change regions cut an item."""
    rng = random.Random(seed)
    sprite, alpha = _item_sprite({"abs_path": str(path)}, rng.randint(110, 150), rng)
    scene = empty_scene(seed)
    _, _, (bx, by, bw, bh) = BINS[seed % len(BINS)]
    h, w = sprite.shape[:2]
    x, y = (
        rng.randint(bx + margin, bx + bw - w - margin),
        rng.randint(by + margin, by + bh - h - margin),
    )
    _paste(scene, sprite, alpha, x, y)
    return np.ascontiguousarray(scene[y - margin : y + h + margin, x - margin : x + w + margin])


def _paste(frame: Frame, sprite: Frame, alpha: npt.NDArray[np.float32], x: int, y: int) -> None:
    h, w = sprite.shape[:2]
    region = frame[y : y + h, x : x + w].astype(np.float32)
    a = alpha[..., None]
    frame[y : y + h, x : x + w] = (region * (1 - a) + sprite.astype(np.float32) * a).astype(
        np.uint8
    )


def _hand(frame: Frame, tip: tuple[int, int], top: int) -> None:
    """An arm from above the frame down to `tip`, with a hand at its end."""
    x, y = tip
    cv2.line(frame, (x + 40, top - 200), (x, y - 30), SKIN, 70)
    cv2.ellipse(frame, (x, y), (55, 45), 0, 0, 360, SKIN, -1)
    cv2.ellipse(frame, (x, y), (55, 45), 0, 0, 360, (90, 120, 170), 2)


def _place(
    bin_box: tuple[int, int, int, int],
    size: int,
    taken: list[tuple[int, int, int, int]],
    rng: random.Random,
) -> tuple[int, int]:
    bx, by, bw, bh = bin_box
    best = (bx + 10, by + 10)
    best_overlap = math.inf
    for _ in range(60):
        x = rng.randint(bx + 10, bx + bw - size - 10)
        y = rng.randint(by + 10, by + bh - size - 10)
        overlap = sum(
            max(0, min(x + size, tx + tw) - max(x, tx))
            * max(0, min(y + size, ty + th) - max(y, ty))
            for tx, ty, tw, th in taken
        )
        if overlap < best_overlap:
            best, best_overlap = (x, y), overlap
        if overlap == 0:
            break
    return best


def load_items(manifest: Path, split: str) -> list[dict[str, str]]:
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == split]
    if not rows:
        raise ValueError(f"no {split} images in {manifest}")
    for row in rows:
        row["abs_path"] = str(manifest.parent / row["path"])
    return rows


def folder_items(directory: Path) -> list[dict[str, str]]:
    """Photos in `DIR/<fine label>/*.jpg` (the layout of the shared datasets' images)."""
    from vision.imageio import IMAGE_SUFFIXES
    from vision.taxonomy import label_catalog

    labels = load_profile("national")
    rows = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        if folder.name not in label_catalog():
            log.warning("skipping %s: not a fine label", folder)
            continue
        category = labels.category_of(folder.name).value
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                rows.append(
                    {
                        "fine_label": folder.name,
                        "category": category,
                        "path": f"{folder.name}/{path.name}",
                        "abs_path": str(path),
                    }
                )
    if not rows:
        raise ValueError(f"no images in {directory}/<fine label>/ folders")
    return rows


def drawn_items() -> list[dict[str, str]]:
    """Items drawn on the fly (bottles, cans, cells, peels...), when no photos are given."""
    profile = load_profile("national")
    return [
        {
            "fine_label": label,
            "category": profile.category_of(label).value,
            "path": f"drawn:{label}",
        }
        for label in DRAWN
    ]


class Deck:
    """The photos of each category dealt in a shuffled order without repeats; a pile dealt out
    is shuffled again. `dealt` (from `state()`) continues where an earlier deck stopped, so a
    station's successive videos show no photo twice until its whole share has been shown."""

    def __init__(self, items: list[dict[str, str]], seed: int, dealt: dict[str, int] | None = None):
        self.seed = seed
        self.piles: dict[str, list[dict[str, str]]] = {}
        for row in items:
            self.piles.setdefault(row["category"], []).append(row)
        self.dealt = dict(dealt or {})
        self._orders: dict[str, tuple[int, list[dict[str, str]]]] = {}

    def _order(self, category: str, rounds: int) -> list[dict[str, str]]:
        """The pile's order in its `rounds`-th pass (shuffled once per pass, then kept)."""
        if self._orders.get(category, (None, []))[0] != rounds:
            pile = list(self.piles[category])
            random.Random(f"{self.seed}:{category}:{rounds}").shuffle(pile)
            self._orders[category] = (rounds, pile)
        return self._orders[category][1]

    def deal(self, category: str) -> dict[str, str]:
        n = self.dealt.get(category, 0)
        size = len(self.piles[category])
        self.dealt[category] = n + 1
        return self._order(category, n // size)[n % size]

    def has(self, category: str) -> bool:
        return bool(self.piles.get(category))

    def state(self) -> dict[str, int]:
        return dict(self.dealt)


@dataclass
class _Film:
    """The video being written: every frame under the room's light (slowly drifting, switched
    now and then) with sensor noise."""

    writer: cv2.VideoWriter
    rng: random.Random
    noise: list[npt.NDArray[np.float32]]
    light: float = 1.0
    frame_no: int = 0

    def emit(self, image: Frame, count: int = 1) -> None:
        for _ in range(count):
            drift = 1.0 + 0.05 * math.sin(self.frame_no / (FPS * 40))
            noise = self.noise[self.rng.randrange(len(self.noise))]
            shown = image.astype(np.float32) * (self.light * drift) + noise
            self.writer.write(np.clip(shown, 0, 255).astype(np.uint8))
            self.frame_no += 1


@dataclass
class _Habits:
    """How households sort: most get it wrong now and then (`wrong_share`), a careless few
    often (`careless_share`), so follow-up lists and maps have something to show."""

    wrong_share: float
    careless: frozenset[str] = frozenset()
    careless_share: float = 0.6

    def wrong(self, card: str | None, rng: random.Random) -> bool:
        share = self.careless_share if card in self.careless else self.wrong_share
        return rng.random() < share


def _choose(
    deck: Deck,
    accepted: frozenset[Category],
    wrong: bool,
    rng: random.Random,
) -> dict[str, str]:
    """An item that belongs in the bin (or, `wrong`, one that does not), from the deck."""
    pool = [c for c in Category if (c in accepted) != wrong and deck.has(c.value)]
    pool = pool or [c for c in Category if deck.has(c.value)]  # photos of one kind only
    return deck.deal(rng.choice(pool).value)


def _drop(film: _Film, scene: Frame, box: tuple[int, int, int, int], sprites: list[Any]) -> int:
    """A hand reaches into the bin, leaves its items and withdraws; the release frame."""
    bx, by, bw, bh = box
    target = (sprites[0][2] + 60, sprites[0][3] + 60) if sprites else (bx + bw // 2, by + bh // 2)
    for step in range(6):  # reach in
        frame = scene.copy()
        _hand(frame, (target[0], by - 60 + int((target[1] - by + 60) * (step + 1) / 6)), by)
        film.emit(frame)
    for sprite, alpha, x, y in sprites:
        _paste(scene, sprite, alpha, x, y)
    release = film.frame_no
    for _ in range(4):  # let go
        frame = scene.copy()
        _hand(frame, target, by)
        film.emit(frame)
    for step in range(6):  # withdraw
        frame = scene.copy()
        _hand(frame, (target[0], target[1] - int((target[1] - by + 120) * (step + 1) / 6)), by)
        film.emit(frame)
    return release


def _dropoff(
    n: int,
    bins: list[tuple[str, str, tuple[int, int, int, int]]],
    deck: Deck,
    habits: _Habits,
    taken: dict[str, list[tuple[int, int, int, int]]],
    rng: random.Random,
    empty_share: float,
    cards: bool,
) -> tuple[TruthDropoff, list[Any], tuple[int, int, int, int]]:
    """Who drops what where: the record (frames filled in later), the sprites, the bin's box."""
    profile = load_profile("national")
    bin_id, bin_category, box = bins[rng.randrange(len(bins))]
    accepted = frozenset(profile.accepted(bin_category))
    empty = rng.random() < empty_share
    card = f"CARD-{rng.randint(1, 40):04d}" if cards else None
    record = TruthDropoff(n, bin_id, bin_category, 0, 0, 0, card=card)
    sprites = []
    for _ in range(0 if empty else rng.choice((1, 1, 1, 2, 2, 3))):
        row = _choose(deck, accepted, habits.wrong(card, rng), rng)
        sprite, alpha = _item_sprite(row, rng.randint(110, 150), rng)
        x, y = _place(box, max(sprite.shape[:2]), taken[bin_id], rng)
        sprites.append((sprite, alpha, x, y))
        h, w = sprite.shape[:2]
        taken[bin_id].append((x, y, w, h))
        record.items.append(
            TruthItem(row["fine_label"], row["category"], row["path"], (x, y, w, h))
        )
    if record.items:
        wrong = any(Category(i.category) not in accepted for i in record.items)
        record.verdict = "contaminated" if wrong else "correct"
    return record, sprites, box


def _truth(
    video: Path,
    frames: int,
    seed: int,
    manifest: Path | list[dict[str, str]],
    split: str,
    bins: list[tuple[str, str, tuple[int, int, int, int]]],
    dropoffs: list[TruthDropoff],
) -> dict[str, Any]:
    return {
        "video": video.name,
        "fps": FPS,
        "width": WIDTH,
        "height": HEIGHT,
        "frames": frames,
        "seed": seed,
        "manifest": str(manifest) if isinstance(manifest, Path) else "given items",
        "split": split,
        "bins": [
            {"id": b, "category": c, "roi": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]}
            for b, c, (x, y, w, h) in bins
        ],
        "dropoffs": [asdict(t) for t in dropoffs],
    }


def simulate(
    manifest: Path | list[dict[str, str]],
    out_video: Path,
    out_truth: Path,
    dropoffs: int = 30,
    seed: int = 0,
    split: str = "test",
    wrong_share: float = 0.3,
    empty_share: float = 0.05,
    cards: bool = True,
    station: str = "SIM",
    deck: Deck | None = None,
    careless: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Write the video and its truth; returns the truth. Bins are `<station>-K` (kitchen) and
    `<station>-R` (recyclable). Photos come from `deck` when given (no repeats across videos),
    else from a deck of the manifest's split. Households with a card in `careless` sort badly."""
    bins = [(f"{station}-{code[-1]}", category, box) for code, category, box in BINS]
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    if deck is None:
        deck = Deck(load_items(manifest, split) if isinstance(manifest, Path) else manifest, seed)
    habits = _Habits(wrong_share, careless)
    scene = _background(nrng)
    writer = cv2.VideoWriter(str(out_video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"cannot write video {out_video}")
    noise = [nrng.normal(0, 3.0, (HEIGHT, WIDTH, 3)).astype(np.float32) for _ in range(12)]
    film = _Film(writer, rng, noise)
    taken: dict[str, list[tuple[int, int, int, int]]] = {b[0]: [] for b in bins}
    truth: list[TruthDropoff] = []
    switches = set()
    if dropoffs >= 3:  # a light switched on, and later off, with nobody at the bins
        switches = {
            rng.randint(dropoffs // 3, dropoffs // 2),
            rng.randint(2 * dropoffs // 3, dropoffs - 1),
        }
    film.emit(scene, 20)
    for n in range(dropoffs):
        if n in switches:
            film.light = 1.12 if film.light == 1.0 else 1.0  # nobody there
            film.emit(scene, 25)
        record, sprites, box = _dropoff(n, bins, deck, habits, taken, rng, empty_share, cards)
        record.start_frame = film.frame_no
        record.release_frame = _drop(film, scene, box, sprites)
        record.end_frame = film.frame_no
        truth.append(record)
        film.emit(scene, rng.randint(18, 30))  # quiet until the next one
        if len(taken[record.bin]) > 14:  # the bin is emptied (at night, in the real world)
            taken[record.bin].clear()
            bx, by, bw, bh = box
            scene[by : by + bh, bx : bx + bw] = _background(nrng)[by : by + bh, bx : bx + bw]
            film.emit(scene, 40)
            log.info("bin emptied: %s at frame %d", record.bin, film.frame_no)
    writer.release()
    data = _truth(out_video, film.frame_no, seed, manifest, split, bins, truth)
    out_truth.write_text(json.dumps(data, indent=1))
    return data


def card_signals(truth_file: Path) -> list[tuple[int, dict[str, Any]]]:
    """The card swipes of a simulation, as (frame, signal) pairs: each at its hand-in frame."""
    truth = json.loads(truth_file.read_text())
    return [(d["start_frame"], {"card": d["card"]}) for d in truth["dropoffs"] if d.get("card")]
