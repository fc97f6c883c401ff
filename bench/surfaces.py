"""Empty plain floors: how often a model answers "no item" for a photo of a surface with
nothing on it, as `binwatch classify` reads a whole photo.

    .venv/bin/python -m bench.surfaces --model models/binwatch.onnx --peer OLD.onnx \\
        --out bench/results/surfaces.json

The empty floor of a sorting device, a steel bin floor or a plastic plate is plain: an even
surface, lit unevenly. Nothing in `../shared` photographs one, so this bench draws them itself,
with its own code and parameters (not `train.surfaces`, the training drawings), whole photos of
480 × 360 written as JPEG (quality 85) and read back, in seven families:

- `flat`: one colour and sensor noise (greys from near black to near white, a few tints);
- `gradient`: the same under a strong light ramp, ×0.5 to ×1.4 across the photo;
- `brushed`: steel streaks along one direction;
- `stained`: a light plate with a few soft brownish stains;
- `perforated`: a plate with a square grid of dark holes;
- `tiles`: square tiles with grout lines between them;
- `treadplate`: a steel tread plate, short raised bars in alternating directions, lit from one
  side.

The training drawings never draw tiles or a tread plate (the rest have a kin there): these two
say whether the lesson carries over to a floor nobody drew for it (a run that also drew tiles,
lite0-waste-2.6, learned them and still not the tread plate; it was not shipped).

Each photo is scored as it is and as a night/IR camera sees it (the night check's transform).
A photo answered anything but "no item" would become an event and, in most bins, a
contamination flag.

And the cost: with `--manifest`, `--items` test photos of those manifests (pooled, a seeded
draw) are each placed on a photo of every family (`train.augment.place_on_background`: cut out
when their studio ground is plain, the same spot and scale on every family), and the bench
reports how many real items each model then drops as "no item", and their category accuracy
and macro recall as `binwatch classify` answers (an empty answer is a wrong one).

Then the same items small, as a whole camera frame over a bin shows a cigarette butt or a
stone: each on a floor photo (the families take turns), its longest side 8, 15, 25, 35 and 50 %
of the photo's side, kept clear of the borders (`items_by_size`), by day and as a night/IR
camera sees them (`items_by_size_night`).

Every photo is read as `binwatch classify` reads it: a small item on a plain floor found and read
close up, a quiet plain floor answered "no item" (`vision.zoom`); the items' scores also say
what reading each photo whole gives (`whole`, as `binwatch classify --whole`), how often the zoom
was used (`zoomed`), how many items the quiet-floor rule dropped (`ground_only`) and how many
the close-up found where the whole photo read as "no item" (`found_close_up`); the empty
floors', what reading them whole gives (`empty_whole`). The small items' scores also say what
reading each one close up round its true box (where it was placed) would give (`at_true_box`):
the most any way of placing an item can give.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.field import item_scores, peer_zoom, zoom_label, zoom_setting
from train.augment import night_check, place_item, place_on_background
from train.manifest import Sample, load_manifests
from vision.classifier import Classifier, ClassifierOptions
from vision.imageio import read_image
from vision.prediction import Box, Prediction
from vision.zoom import Reading, ZoomParams, read_photos, zoom_crop

log = logging.getLogger(__name__)
WIDTH, HEIGHT = 480, 360
Draw = Callable[[np.random.Generator], np.ndarray]


def _grey(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.8:
        return np.full(3, rng.uniform(20, 240))
    return np.asarray(np.clip(rng.uniform(60, 200) + rng.normal(0, 20, 3), 0, 255))


def _finish(rng: np.random.Generator, image: np.ndarray, noise: float = 3.0) -> np.ndarray:
    noisy = image + rng.normal(0, noise, image.shape)
    return np.asarray(np.clip(noisy, 0, 255), np.uint8)


def flat(rng: np.random.Generator) -> np.ndarray:
    return _finish(rng, np.ones((HEIGHT, WIDTH, 3)) * _grey(rng), float(rng.uniform(2, 5)))


def gradient(rng: np.random.Generator) -> np.ndarray:
    low, high = rng.uniform(0.5, 0.8), rng.uniform(1.1, 1.4)
    ramp = np.linspace(low, high, WIDTH if rng.random() < 0.5 else HEIGHT)
    field = ramp[None, :] if len(ramp) == WIDTH else ramp[:, None]
    light = np.broadcast_to(field, (HEIGHT, WIDTH))[:, :, None]
    return _finish(rng, np.ones((HEIGHT, WIDTH, 3)) * _grey(rng) * light)


def brushed(rng: np.random.Generator) -> np.ndarray:
    streaks = cv2.blur(rng.normal(0, 1, (HEIGHT, WIDTH)).astype(np.float32), (71, 1))
    level = rng.uniform(90, 210)
    grey = level + streaks / max(float(streaks.std()), 1e-6) * rng.uniform(6, 15)
    image = np.dstack([grey, grey, grey * 1.02])
    if rng.random() < 0.5:
        image = np.ascontiguousarray(np.rot90(cv2.resize(image, (HEIGHT, WIDTH))))
    return _finish(rng, image, 2.0)


def stained(rng: np.random.Generator) -> np.ndarray:
    image = np.ones((HEIGHT, WIDTH, 3)) * rng.uniform(150, 225)
    for _ in range(int(rng.integers(3, 10))):
        mask = np.zeros((HEIGHT, WIDTH), np.float32)
        centre = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        cv2.circle(mask, centre, int(rng.integers(8, 40)), 1.0, -1)
        soft = cv2.GaussianBlur(mask, (0, 0), 8)
        brown = np.array([-45.0, -30.0, -10.0]) * rng.uniform(0.4, 1.0)
        image += soft[:, :, None] * brown
    return _finish(rng, image)


def perforated(rng: np.random.Generator) -> np.ndarray:
    level = rng.uniform(80, 200)
    image = np.ones((HEIGHT, WIDTH, 3)) * level
    step, radius = int(rng.integers(18, 44)), int(rng.integers(3, 8))
    for y in range(step // 2, HEIGHT, step):
        for x in range(step // 2, WIDTH, step):
            cv2.circle(image, (x, y), radius, (level * 0.25,) * 3, -1)
    return _finish(rng, cv2.GaussianBlur(image, (3, 3), 0))


def tiles(rng: np.random.Generator) -> np.ndarray:
    tile = _grey(rng)
    image = np.ones((HEIGHT, WIDTH, 3)) * tile
    step = int(rng.integers(50, 130))
    grout = tuple(float(c) for c in tile * rng.uniform(0.4, 0.8))
    width = int(rng.integers(2, 5))
    for x in range(int(rng.integers(0, step)), WIDTH, step):
        cv2.line(image, (x, 0), (x, HEIGHT), grout, width)
    for y in range(int(rng.integers(0, step)), HEIGHT, step):
        cv2.line(image, (0, y), (WIDTH, y), grout, width)
    shade = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(1.0, 1.2), WIDTH)[None, :, None]
    return _finish(rng, image * shade)


def treadplate(rng: np.random.Generator) -> np.ndarray:
    level = rng.uniform(80, 200)
    image = np.ones((HEIGHT, WIDTH, 3)) * level
    step = int(rng.integers(18, 36))
    length, thick = step * rng.uniform(0.5, 0.7), max(2, int(step * rng.uniform(0.12, 0.2)))
    light, dark = (min(255.0, level * 1.25),) * 3, (level * 0.7,) * 3
    for row, y in enumerate(range(step // 2, HEIGHT + step, step)):
        for col, x in enumerate(range(step // 2, WIDTH + step, step)):
            turn = np.pi / 4 if (row + col) % 2 == 0 else -np.pi / 4
            dx, dy = length / 2 * np.cos(turn), length / 2 * np.sin(turn)
            start, end = (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy))
            below = ((start[0] + 2, start[1] + 2), (end[0] + 2, end[1] + 2))
            cv2.line(image, *below, dark, thick, cv2.LINE_AA)  # the bar's shadow
            cv2.line(image, start, end, light, thick, cv2.LINE_AA)
    shade = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(1.0, 1.15), HEIGHT)[:, None, None]
    return _finish(rng, image * shade)


FAMILIES: dict[str, Draw] = {
    "flat": flat,
    "gradient": gradient,
    "brushed": brushed,
    "stained": stained,
    "perforated": perforated,
    "tiles": tiles,
    "treadplate": treadplate,  # last, so the others' photos stay those of earlier runs
}


def draw_set(folder: Path, per_family: int, seed: int) -> dict[str, list[Path]]:
    """Write `per_family` JPEG photos of each family into `folder`; their paths by family."""
    rng = np.random.default_rng(seed)
    made: dict[str, list[Path]] = {}
    for name, draw in FAMILIES.items():
        made[name] = []
        for i in range(per_family):
            made[name].append(write_photo(folder / f"{name}-{i:03d}.jpg", draw(rng)))
    return made


def write_photo(path: Path, image: np.ndarray) -> Path:
    """`image` as a camera would store it (JPEG, quality 85), at `path`."""
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 85]):
        raise OSError(f"cannot write {path}")
    return path


def draw_items(manifests: list[Path], count: int, seed: int) -> list[Sample]:
    """`count` photos of the manifests' pooled test split, a seeded draw, in manifest order."""
    pool = load_manifests(manifests).split("test")
    chosen = np.random.default_rng(seed).permutation(len(pool))[:count]
    return [pool[i] for i in sorted(chosen)]


def both_ways(readings: list[Reading], samples: list[Sample]) -> dict[str, Any]:
    """Item scores as `binwatch classify` reads the photos, with `whole` (each read whole),
    `zoomed` (the share read close up), `ground_only` (the share answered "no item" because
    the ground is quiet) and `found_close_up` (the share the whole photo read as "no item" and
    its close-up found)."""
    scores = item_scores([r.prediction for r in readings], samples)
    scores["whole"] = item_scores([r.whole for r in readings], samples)
    scores["zoomed"] = float(np.mean([r.item_box is not None for r in readings]))
    by_activation = [r.located_by == "activation" for r in readings]
    scores["zoomed_by_activation"] = float(np.mean(by_activation))
    scores["ground_only"] = float(np.mean([r.ground_only for r in readings]))
    scores["found_close_up"] = float(np.mean([r.found_close_up for r in readings]))
    return scores


def score(
    classifier: Classifier, photos: dict[str, list[Path]], zoom: ZoomParams | None = None
) -> dict[str, Any]:
    """The share answered "no item" per family and overall, by day and at night, as classify
    reads the photos (`empty`) and read whole (`empty_whole`), and what the rest were called
    (labels, most common first)."""
    out: dict[str, Any] = {"families": {}}
    for light, transform in (("day", None), ("night", night_check)):
        counts = Counter[str]()  # photos, and those answered "no item" both ways, all families
        for name, paths in photos.items():
            images = [read_image(p) for p in paths]
            if transform is not None:
                images = [transform(image) for image in images]
            readings = read_photos(classifier, images, zoom)
            empty = sum(r.prediction.is_background for r in readings)
            empty_whole = sum(r.whole.is_background for r in readings)
            called = Counter(r.prediction.label for r in readings if not r.prediction.is_background)
            row = out["families"].setdefault(name, {"photos": len(paths)})
            row[light] = {
                "empty": empty / len(paths),
                "empty_whole": empty_whole / len(paths),
                "called": dict(called.most_common(3)),
            }
            counts.update(photos=len(paths), empty=empty, empty_whole=empty_whole)
        out[light] = {
            "photos": counts["photos"],
            "empty": counts["empty"] / counts["photos"],
            "empty_whole": counts["empty_whole"] / counts["photos"],
        }
    return out


def ground_of(draw: Draw, own: np.random.Generator) -> Callable[..., np.ndarray]:
    """A ground for place_on_background: the family's photo, resized to the side asked."""

    def ground(_: np.random.Generator, height: int, width: int) -> np.ndarray:
        return np.asarray(cv2.resize(draw(own), (width, height), interpolation=cv2.INTER_AREA))

    return ground


def items_on_surfaces(
    classifier: Classifier, samples: list[Sample], seed: int, zoom: ZoomParams | None = None
) -> dict[str, Any]:
    """Each item on a photo of every family: scores per family and over all of them."""
    images = [read_image(s.path) for s in samples]
    out: dict[str, Any] = {}
    everything = []
    for f, (name, draw) in enumerate(FAMILIES.items()):
        placed = []
        for i, image in enumerate(images):
            where = np.random.default_rng([seed, i])  # the same spot on every family
            own = np.random.default_rng([seed, i, f])
            placed.append(place_on_background(image, where, ground=ground_of(draw, own)))
        readings = read_photos(classifier, placed, zoom)
        everything += readings
        out[name] = both_ways(readings, samples)
    out["all"] = both_ways(everything, samples * len(FAMILIES))
    return out


SIZES = (0.08, 0.15, 0.25, 0.35, 0.5)  # an item's longest side, as a share of the photo's


def items_by_size(
    classifier: Classifier,
    samples: list[Sample],
    seed: int,
    night: bool = False,
    zoom: ZoomParams | None = None,
) -> dict[str, Any]:
    """Each item small on a wide floor, at every share of `SIZES`: on a photo of one family
    (they take turns), the same spot's centre and floor photo at every size; `night`: each
    photo as a night/IR camera sees it (the night check's transform)."""
    images = [read_image(s.path) for s in samples]
    draws = list(FAMILIES.values())
    out: dict[str, Any] = {}
    for size in SIZES:
        placed, boxes = [], []
        for i, image in enumerate(images):
            own = np.random.default_rng([seed, i, 99])
            ground = ground_of(draws[i % len(draws)], own)
            where = np.random.default_rng([seed, i])
            photo, (x, y, w, h) = place_item(image, where, ground=ground, size=(size, size))
            placed.append(night_check(photo) if night else photo)
            boxes.append(Box(x=x, y=y, w=w, h=h))
        readings = read_photos(classifier, placed, zoom)
        scores = both_ways(readings, samples)
        scores["at_true_box"] = item_scores(
            at_true_box(classifier, readings, placed, boxes, zoom), samples
        )
        out[f"{size:.2f}"] = scores
    return out


def at_true_box(
    classifier: Classifier,
    readings: list[Reading],
    photos: list[np.ndarray],
    boxes: list[Box],
    zoom: ZoomParams | None = None,
) -> list[Prediction]:
    """What each photo would read as if its close-up were taken round the item's true box
    (where it was placed) and weighed as `read_photos` weighs one: the most any way of placing
    the item can give. A photo read as "no item" whole, or whose square would not fit, keeps
    its reading."""
    zoom = zoom or ZoomParams()
    out = [r.prediction for r in readings]
    chosen = []
    for i, (reading, photo, box) in enumerate(zip(readings, photos, boxes, strict=True)):
        crop = None if reading.whole.is_background else zoom_crop(photo, box, zoom)
        if crop is not None:
            chosen.append((i, crop))
    close = classifier.classify([crop for _, crop in chosen]) if chosen else []
    for (i, _), prediction in zip(chosen, close, strict=True):
        out[i] = classifier.what_it_is(readings[i].whole, [prediction], zoom.close_up_weight)
    return out


def score_model(
    model: Path,
    photos: dict[str, list[Path]],
    items: list[Sample],
    seed: int,
    zoom: ZoomParams | None = None,
) -> dict[str, Any]:
    """One model on the drawn photos (`score`) and, when given, the items placed on them;
    `seconds`: all of it (placing the items, the same work for every model, and reading)."""
    start = time.perf_counter()
    classifier = Classifier(model, ClassifierOptions(threads=2, batch_size=32))
    if classifier.metadata.background_index is None:
        log.warning("%s has no background output: it cannot answer 'no item'", model)
    scored = score(classifier, photos, zoom)
    version = classifier.metadata.model_version + zoom_label(zoom)
    scored.update(model=str(model), version=version)
    if items:
        scored["items"] = items_on_surfaces(classifier, items, seed, zoom)
        scored["items_by_size"] = items_by_size(classifier, items, seed, zoom=zoom)
        scored["items_by_size_night"] = items_by_size(classifier, items, seed, True, zoom)
    scored["seconds"] = round(time.perf_counter() - start, 1)
    return scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/binwatch.onnx"))
    parser.add_argument("--peer", type=Path, help="a second model, on the same photos")
    parser.add_argument("--peer-ground-only", action="store_true",
                        help="read the peer's items close up only where the ground places "
                        "them (no activation close-ups): with --peer the same file, what they "
                        "change")  # fmt: skip
    parser.add_argument("--peer-zoom", type=zoom_setting, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="read the peer's photos with this vision.zoom.ZoomParams field "
                        "changed (repeat for more), e.g. activation_passes=1")  # fmt: skip
    parser.add_argument("--per-family", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest", type=Path, action="append", default=[],
                        help="test photos to place on the surfaces (repeat to pool)")  # fmt: skip
    parser.add_argument("--items", type=int, default=300, help="with --manifest: how many")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.per_family < 1 or args.items < 1:
        parser.error("--per-family and --items must be 1 or more")
    items = draw_items(args.manifest, args.items, args.seed) if args.manifest else []
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    models = [args.model] + ([args.peer] if args.peer else [])
    results: dict[str, Any] = {"per_family": args.per_family, "seed": args.seed,
                               "items": len(items), "models": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        photos = draw_set(Path(tmp), args.per_family, args.seed)
        for n, model in enumerate(models):
            zoom = peer_zoom(args.peer_ground_only, args.peer_zoom) if n else None
            results["models"].append(score_model(model, photos, items, args.seed, zoom))
    header = f"{'family':<11}" + "".join(f"{m['version'][:22]:>24}" for m in results["models"])
    print(f"answered 'no item' (day / night), {args.per_family} photos a family\n{header}")
    for name in [*FAMILIES, "all"]:
        cells = []
        for m in results["models"]:
            row = m["families"][name] if name != "all" else m
            cells.append(
                f"{100 * row['day']['empty']:>10.1f} / {100 * row['night']['empty']:5.1f} %"
            )
        print(f"{name:<11}" + "".join(f"{c:>24}" for c in cells))
    if items:
        print(f"{len(items)} real test items on each family: dropped as 'no item' / macro recall")
        for name in [*FAMILIES, "all"]:
            rows = [m["items"][name] for m in results["models"]]
            cells = [f"{100 * r['dropped_as_empty']:>9.1f} / {100 * r['macro_recall']:5.1f} %"
                     for r in rows]  # fmt: skip
            print(f"{name:<11}" + "".join(f"{c:>24}" for c in cells))
        for key, light in (("items_by_size", "by day"), ("items_by_size_night", "at night")):
            print(f"the same items small on a floor {light} (longest side, share of the photo's "
                  "side); macro recall read whole, read close up round the item's true box, "
                  "the share read close up and found only there")  # fmt: skip
            for size in SIZES:
                rows = [m[key][f"{size:.2f}"] for m in results["models"]]
                cells = [f"{100 * r['dropped_as_empty']:>9.1f} / {100 * r['macro_recall']:5.1f} %"
                         f" (whole {100 * r['whole']['macro_recall']:4.1f}, "
                         f"true box {100 * r['at_true_box']['macro_recall']:4.1f}, "
                         f"{100 * r['zoomed']:3.0f} % close, "
                         f"{100 * r['found_close_up']:3.1f} % found there)"
                         for r in rows]  # fmt: skip
                print(f"{f'{100 * size:.0f} %':<11}" + "".join(f"{c:>74}" for c in cells))
    print("seconds, placing and reading: " + ", ".join(
        f"{m['version']} {m['seconds']:.1f}" for m in results["models"]))  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
