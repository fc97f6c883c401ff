"""How a model does on what a camera over a bin sees, next to a peer, in the same run.

    .venv/bin/python -m bench.field --model models/binwatch.onnx --peer OLD.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv --out bench/results/field.json

Every answer is read as `binwatch classify --json` gives it: the top label's category, and an
image the model calls empty counts as wrong; a small item on a plain floor is read close up and
a quiet plain floor answered "no item" (`vision.zoom`; `--whole` / `--peer-whole` read as
`binwatch classify --whole`, so `--peer` the same file with `--peer-whole` measures what
`vision.zoom` changes; `--peer-ground-only` and `--peer-zoom NAME=VALUE` read the peer with the
activations' close-ups off or a vision.zoom.ZoomParams field changed). For each manifest's test
split and for them pooled:

- category accuracy, macro recall and recall per category, by day and as a night/IR camera sees
  the same photos (grey, contrast ×0.7, brightness +30: `cv2.convertScaleAbs(grey, 0.7, 30)`),
  and a harder night (grey, contrast ×0.5, brightness +45, sensor noise σ 6);
- how many real items the model drops as "no item";
- risk–coverage: the accuracy of the most confident share of answers;
- contamination flags at the model's own thresholds, every photo dropped into every bin, by
  day and at the night check: precision and recall as counted there (three drops in four
  wrong), and the share of right and wrong drops flagged with the flags' precision where a
  tenth and a fifth of drops are wrong (`train.thresholds.threshold_effect`; a table of its
  own).

And the held-out empty set: crops with no item (the test split's tray and pill photo corners,
drawn floors, drawn hands: train.background) plus crops of the simulator's empty bins; the share
answered "no item", read as classify reads them (or whole). The peer (e.g. the model before)
runs on the same images.

Every macro recall comes with its 95 % interval over the photos (bench.intervals: stratified
bootstrap; a category of 35 photos makes it several points wide), and with a peer the difference
between the two on the same photos, with its own interval (`versus_peer` in the JSON). Neither
covers training noise: compare two runs of a recipe before believing a gap of a few points.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.intervals import macro_recall_interval, paired_difference
from edge.simulate import BINS, empty_scene, item_crop
from train.augment import (
    draw_floor,
    flat_grey,
    night_check,
    place_on_background,
    textured_ground,
)
from train.background import make_backgrounds
from train.evaluate import classify_samples, contamination_flags, empty_rejection
from train.manifest import Sample, load_manifests
from train.thresholds import threshold_effect
from vision.classifier import Classifier, ClassifierOptions
from vision.prediction import Prediction
from vision.taxonomy import Category
from vision.zoom import ZoomParams

log = logging.getLogger(__name__)
CATEGORIES = list(Category)
COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.5)
RATES = (0.1, 0.2)  # shares of wrong drops the flags' precision is also counted at
Transform = Callable[[np.ndarray], np.ndarray]


def _truth(samples: Sequence[Sample]) -> np.ndarray:
    return np.array([CATEGORIES.index(s.category) for s in samples if s.category is not None])


def _right(predictions: Sequence[Prediction], samples: Sequence[Sample]) -> np.ndarray:
    answer = np.array([-1 if p.is_background else CATEGORIES.index(p.category)
                       for p in predictions])  # fmt: skip
    return np.asarray(answer == _truth(samples))


def item_scores(predictions: Sequence[Prediction], samples: Sequence[Sample]) -> dict[str, Any]:
    """Scores as `binwatch classify` answers: an empty answer is a wrong one. Macro recall
    comes with its 95 % interval (bench.intervals) and the photos of each category."""
    truth = _truth(samples)
    right = _right(predictions, samples)
    recall = {c.value: float(right[truth == i].mean()) for i, c in enumerate(CATEGORIES)
              if (truth == i).any()}  # fmt: skip
    confidence = np.array([0.0 if p.is_background else p.category_probabilities[p.category]
                           for p in predictions])  # fmt: skip
    order = np.argsort(-confidence, kind="stable")
    coverage = {f"{c:.0%}": float(right[order[: max(1, round(c * len(order)))]].mean())
                for c in COVERAGES}  # fmt: skip
    return {
        "images": len(samples),
        "accuracy": float(right.mean()),
        "macro_recall": float(np.mean(list(recall.values()))),
        "macro_recall_95": list(macro_recall_interval(right, truth)),
        "recall": recall,
        "photos": {c.value: int((truth == i).sum()) for i, c in enumerate(CATEGORIES)},
        "dropped_as_empty": float(np.mean([p.is_background for p in predictions])),
        "risk_coverage": coverage,
        "by_label": by_label(predictions, samples, right),
    }


def by_label(
    predictions: Sequence[Prediction], samples: Sequence[Sample], right: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per fine label: its photos, how many got the right category, and what the wrong ones
    were read as (the answer's label, or "no item"): where a category's recall is lost."""
    out: dict[str, dict[str, Any]] = {}
    for p, s, ok in zip(predictions, samples, right, strict=True):
        row = out.setdefault(s.label, {"photos": 0, "right": 0, "wrong_as": {}})
        row["photos"] += 1
        row["right"] += int(ok)
        if not ok:
            said = "no item" if p.is_background else p.label
            row["wrong_as"][said] = row["wrong_as"].get(said, 0) + 1
    return dict(sorted(out.items()))


def flags(
    classifier: Classifier, predictions: Sequence[Prediction], samples: Sequence[Sample]
) -> dict[str, Any]:
    kept = [(p, s) for p, s in zip(predictions, samples, strict=True) if not p.is_background]
    probs = np.array([[p.category_probabilities[c] for c in CATEGORIES] for p, _ in kept])
    truth = np.array([CATEGORIES.index(s.category) for _, s in kept if s.category is not None])
    made = contamination_flags(probs, truth, classifier)
    thresholds = classifier.metadata.thresholds
    return {
        "all": made["all"],
        "hazardous_and_kitchen_items": made["hazardous_and_kitchen_items"],
        "at_rate": {
            f"{rate:.0%}": threshold_effect(probs, truth, thresholds, rate) for rate in RATES
        },
    }


def stained_tray(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A light tray or lid with sauce, grease and tea stains (drawn here only: training never
    sees this ground)."""
    base = np.array(rng.integers(200, 240), np.float32) - np.array([25, 10, 0], np.float32)
    image = np.tile(base, (height, width, 1)).astype(np.float32)
    for _ in range(int(rng.integers(3, 9))):
        colour = np.array([(20, 60, 150), (30, 120, 200), (20, 40, 90), (40, 160, 210)]
                          [int(rng.integers(4))], np.float32)  # fmt: skip
        blot = np.zeros((height, width), np.float32)
        centre = (int(rng.integers(width)), int(rng.integers(height)))
        axes = (int(rng.integers(8, max(9, width // 3))), int(rng.integers(8, max(9, height // 3))))
        cv2.ellipse(blot, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        soft = np.asarray(cv2.GaussianBlur(blot, (0, 0), float(rng.uniform(2, 8))), np.float32)
        alpha = soft[..., None] * float(rng.uniform(0.3, 0.7))
        image = image * (1 - alpha) + colour * alpha
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def plastic_bag(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A bin bag: black, blue, green or white film with folds and specular streaks (drawn here
    only)."""
    base = np.array([(25, 25, 25), (140, 70, 30), (40, 110, 40), (215, 215, 215)]
                    [int(rng.integers(4))], np.float32)  # fmt: skip
    shade = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(6, 14))):
        p1 = (int(rng.integers(width)), int(rng.integers(height)))
        p2 = (int(rng.integers(width)), int(rng.integers(height)))
        cv2.line(shade, p1, p2, float(rng.uniform(-1, 1)), int(rng.integers(2, 9)))
    folds = np.asarray(cv2.GaussianBlur(shade, (0, 0), float(rng.uniform(3, 7))), np.float32)
    image = base + 90 * folds[..., None] + rng.normal(0, 3, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


GROUNDS = {"floor": draw_floor, "textured": textured_ground, "stain": stained_tray,
           "bag": plastic_bag}  # fmt: skip


def on_ground(kind: str, seed: int) -> Transform:
    """The photo's item placed on one of GROUNDS: a drawn bin floor, a textured ground (grass,
    pavement, gravel), a stained tray or a bin bag; the same seed puts it at the same place and
    scale on each."""

    def place(image: np.ndarray) -> np.ndarray:
        where = np.random.default_rng(seed + int(image[::9, ::9].sum()))
        own = np.random.default_rng(seed + 1)
        draw = GROUNDS[kind]
        return place_on_background(image, where, ground=lambda _, h, w: draw(own, h, w))

    return place


def swap_scores(grounds: dict[str, list[Prediction]], samples: Sequence[Sample]) -> dict[str, Any]:
    """The same item on several grounds must get the same answer: how often it does not
    (`changed`: floor against textured ground; `changed_any`: not the same on all of them)."""

    def answer(p: Prediction) -> str:
        return "empty" if p.is_background else p.category.value

    answers = np.array([[answer(p) for p in preds] for preds in grounds.values()])
    names = list(grounds)
    floor = answers[names.index("floor")]
    return {
        "changed": float(np.mean(floor != answers[names.index("textured")])),
        "changed_any": float(np.mean((answers != answers[0]).any(axis=0))),
        "changed_from_floor": {
            n: float(np.mean(floor != answers[i])) for i, n in enumerate(names) if n != "floor"
        },
        **{name: item_scores(preds, samples) for name, preds in grounds.items()},
    }


def simulator_crops(folder: Path, count: int, seed: int) -> list[Sample]:
    """Square crops of the simulator's empty bins (its own drawn floors, new seeds)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for n in range(count):
        scene = empty_scene(seed * 1000 + n // 4)
        _, _, (x, y, w, h) = BINS[n % len(BINS)]
        side = int(rng.integers(110, 200))
        left, top = int(rng.integers(x, x + w - side)), int(rng.integers(y, y + h - side))
        path = folder / f"sim-{n:04d}.jpg"
        cv2.imwrite(str(path), scene[top : top + side, left : left + side])
        made.append(Sample(path, "test", None, "background", "simulator", f"sim{n}", "sim"))
    return made


def hard_night(image: np.ndarray) -> np.ndarray:
    """A darker, flatter, noisier night than the check's: grey, contrast 0.5, brightness +45,
    Gaussian sensor noise σ 6 (seeded by the image, so a rerun draws the same noise)."""
    flat = flat_grey(image, 0.5, 45).astype(np.float32)
    rng = np.random.default_rng(int(image[::5, ::5].sum()) % (2**32))
    noisy = flat + rng.normal(0, 6, flat.shape[:2])[..., None]
    return np.clip(noisy, 0, 255).astype(np.uint8)


VARIANTS: dict[str, Transform | None] = {
    "day": None,
    "night": night_check,
    "night_hard": hard_night,
    **{ground: on_ground(ground, 11) for ground in GROUNDS},
}


def simulator_items(folder: Path, samples: Sequence[Sample], count: int, seed: int) -> list[Sample]:
    """Crops of the simulator's bins with test photos dropped in (edge.simulate.item_crop: its
    own floors, light and noise), `count` photos drawn from `samples`."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [samples[i] for i in np.random.default_rng(seed).permutation(len(samples))[:count]]
    made = []
    for n, s in enumerate(chosen):
        path = folder / f"item-{n:04d}.jpg"
        cv2.imwrite(str(path), item_crop(s.path, seed * 100_000 + n))
        made.append(Sample(path, "test", s.category, s.label, "simulator", s.group, "sim"))
    return made


def zoom_label(zoom: ZoomParams | None) -> str:
    """What a version's name says of reading other than `binwatch classify`'s: "ground only"
    without the activation close-ups, and the other parameters changed; "" for the default."""
    if zoom is None:
        return ""
    default = ZoomParams()
    changed = [
        f"{f.name}={getattr(zoom, f.name)}"
        for f in fields(zoom)
        if f.name != "activation" and getattr(zoom, f.name) != getattr(default, f.name)
    ]
    if not zoom.activation:
        changed.insert(0, "ground only")
    return f" ({', '.join(changed)})" if changed else ""


def zoom_setting(text: str) -> tuple[str, float | int | bool | None]:
    """A `--peer-zoom` argument, NAME=VALUE for a field of vision.zoom.ZoomParams, its value
    read as the field's default is (a number, true/false, or none)."""
    name, sep, value = text.partition("=")
    known = {f.name: getattr(ZoomParams(), f.name) for f in fields(ZoomParams)}
    if not sep or name not in known:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of {', '.join(known)}; got {text!r}"
        )
    if value.lower() == "none":
        return name, None
    default = known[name]
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"{name} is true or false, not {value!r}")
        return name, value.lower() == "true"
    try:
        return name, int(value) if isinstance(default, int) else float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} is a number, not {value!r}") from None


def peer_zoom(ground_only: bool, settings: Sequence[tuple[str, Any]]) -> ZoomParams | None:
    """How the peer reads its photos: `--peer-ground-only` and `--peer-zoom` together (None:
    as `binwatch classify` does)."""
    if not ground_only and not settings:
        return None
    try:
        return ZoomParams(**{**({"activation": False} if ground_only else {}), **dict(settings)})
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"--peer-zoom: {exc}") from None


def evaluate(
    classifier: Classifier,
    sets: dict[str, list[Sample]],
    empty: list[Sample],
    apart: dict[str, list[Sample]] | None = None,
    whole: bool = False,
    zoom_params: ZoomParams | None = None,
) -> dict[str, Any]:
    """Each set as it is, at night and on each ground; `pooled`: the `sets` together (`apart`:
    sets scored alone, such as the simulator's crops of photos already in a set). Photos are
    read as `binwatch classify` reads them (a small item on a plain floor close up), or
    `whole` as `binwatch classify --whole` does; `zoom_params` other than the default: how
    close it reads them."""
    version = classifier.metadata.model_version + (" (whole)" if whole else zoom_label(zoom_params))
    result: dict[str, Any] = {
        "model_version": version,
        "thresholds": classifier.metadata.thresholds.model_dump(mode="json"),
        "sets": {},
    }
    zoom = None if whole else (zoom_params or ZoomParams())

    def read(samples: list[Sample]) -> dict[str, list[Prediction]]:
        return {v: classify_samples(classifier, samples, t, zoom=zoom) for v, t in VARIANTS.items()}

    made: dict[str, dict[str, list[Prediction]]] = {}
    for name, samples in sets.items():
        made[name] = read(samples)
    if len(sets) > 1:
        made["pooled"] = {v: [p for part in list(made.values()) for p in part[v]] for v in VARIANTS}
        sets = {**sets, "pooled": [s for part in sets.values() for s in part]}
    for name, samples in (apart or {}).items():
        made[name] = read(samples)
        sets = {**sets, name: samples}
    for name, samples in sets.items():
        got = made[name]
        result["sets"][name] = {
            "day": item_scores(got["day"], samples),
            "night": item_scores(got["night"], samples),
            "night_hard": item_scores(got["night_hard"], samples),
            "flags": flags(classifier, got["day"], samples),
            "flags_night": flags(classifier, got["night"], samples),
            "ground_swap": swap_scores({g: got[g] for g in GROUNDS}, samples),
        }
    result["empty"] = empty_rejection(classifier, empty, zoom)
    result["_right"] = {name: {v: _right(got, sets[name]) for v, got in made[name].items()}
                        for name in sets}  # fmt: skip
    return result


VERSUS = ("day", "night", "night_hard")


def versus_peer(
    model: dict[str, Any], peer: dict[str, Any], sets: dict[str, list[Sample]]
) -> dict[str, Any]:
    """Macro recall of the model minus the peer's on the same photos, with 95 % intervals,
    per set by day, at night and at hard night (from each result's per-photo answers)."""
    return {
        name: {v: paired_difference(model["_right"][name][v], peer["_right"][name][v],
                                    _truth(samples)) for v in VERSUS}
        for name, samples in sets.items()
    }  # fmt: skip


def versus_lines(versus: dict[str, Any], model: str, peer: str) -> list[str]:
    lines = [f"Macro recall, {model} minus {peer} on the same photos (95 % interval):", ""]
    for name, by in versus.items():
        parts = [f"{v} {100 * d['difference']:+.2f} ({100 * d['low']:+.2f} to "
                 f"{100 * d['high']:+.2f})" for v, d in by.items()]  # fmt: skip
        lines.append(f"- {name}: " + ", ".join(parts))
    return lines


def _span(scores: dict[str, Any]) -> str:
    low, high = scores["macro_recall_95"]
    return f"{100 * low:.1f}–{100 * high:.1f}"


def _both(views: list[dict[str, Any]], key: str, rate: str = "10%", digits: int = 1) -> str:
    return " / ".join(f"{100 * v[rate][key]:.{digits}f}" for v in views) + " %"


def flag_table(results: list[dict[str, Any]]) -> list[str]:
    """Each item dropped into each bin, by day / at the night check: the share of right drops
    flagged (false flags) and of wrong ones flagged, and the flags' precision where a tenth and
    a fifth of drops are wrong."""
    lines = [
        "| set | model | thresholds correct / contaminated | right drops flagged | right drops "
        "uncertain | wrong drops flagged | hazardous items' wrong drops flagged | flag "
        "precision, a tenth wrong | a fifth wrong |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results[0]["sets"]:
        for r in results:
            views = [r["sets"][name][k]["at_rate"] for k in ("flags", "flags_night")]
            t = r["thresholds"]
            own = "".join(f", {c} {v:g}" for c, v in t.get("contaminated_by_category", {}).items())
            hazardous = (
                _both(views, "wrong_flagged_hazardous")
                if "wrong_flagged_hazardous" in views[0]["10%"]
                else "–"
            )
            lines.append(
                f"| {name} | {r['model_version']} | {t['correct']:g} / {t['contaminated']:g}"
                f"{own} | {_both(views, 'right_flagged', digits=2)} | "
                f"{_both(views, 'right_uncertain')} | {_both(views, 'wrong_flagged')} | "
                f"{hazardous} | "
                f"{_both(views, 'flag_precision_at_rate')} | "
                f"{_both(views, 'flag_precision_at_rate', '20%')} |"
            )
    return lines


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| set | model | accuracy | macro recall (95 % interval) | recall R/H/K/O | "
        "night macro recall: check (interval) / hard | dropped as empty | "
        "acc. of 70 % most confident | answer changes with the ground: "
        "floor vs textured / on any of 4 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = list(results[0]["sets"])
    for name in names:
        for r in results:
            day, dark = r["sets"][name]["day"], r["sets"][name]["night"]
            hard = r["sets"][name]["night_hard"]
            rec = "/".join(
                f"{100 * day['recall'].get(c.value, float('nan')):.1f}" for c in CATEGORIES
            )
            lines.append(
                f"| {name} | {r['model_version']} | {100 * day['accuracy']:.2f} % | "
                f"{100 * day['macro_recall']:.2f} % ({_span(day)}) | {rec} | "
                f"{100 * dark['macro_recall']:.2f} % ({_span(dark)}) / "
                f"{100 * hard['macro_recall']:.2f} % | "
                f"{100 * day['dropped_as_empty']:.2f} % | "
                f"{100 * day['risk_coverage']['70%']:.2f} % | "
                f"{100 * r['sets'][name]['ground_swap']['changed']:.1f} / "
                f"{100 * r['sets'][name]['ground_swap']['changed_any']:.1f} % |"
            )
    lines += ["", *flag_table(results), ""]
    for r in results:
        e = r["empty"]
        parts = ", ".join(f"{k} {100 * v['rejected']:.1f} %" for k, v in e["by_source"].items())
        lines.append(f"- {r['model_version']}: empty crops answered \"no item\": "
                     f"{100 * e['rejected']:.1f} % of {e['crops']} ({parts})")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--peer", type=Path, help="a second model run on the same images")
    parser.add_argument(
        "--whole",
        action="store_true",
        help="read the model's photos whole (binwatch classify --whole)",
    )
    parser.add_argument("--peer-whole", action="store_true",
                        help="read the peer's photos whole: with --peer the same file, what "
                        "reading a small item close up changes")  # fmt: skip
    parser.add_argument("--peer-ground-only", action="store_true",
                        help="read the peer's photos close up only where the ground places the "
                        "item (no activation close-ups): with --peer the same file, what they "
                        "change")  # fmt: skip
    parser.add_argument("--peer-zoom", type=zoom_setting, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="read the peer's photos with this vision.zoom.ZoomParams field "
                        "changed (repeat for more), e.g. activation_passes=1: with --peer the "
                        "same file, what the default changes")  # fmt: skip
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulator", type=int, default=0,
                        help="also N crops of the simulator's bins with test photos in them",
                        )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    options = ClassifierOptions(threads=args.threads, batch_size=32)
    sets: dict[str, list[Sample]] = {}
    for manifest in args.manifest:
        sets[manifest.parent.name] = load_manifests([manifest]).split("test")
    everything = load_manifests(args.manifest)
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_backgrounds(everything.samples, "test", Path(tmp) / "bg", args.seed)
        empty += simulator_crops(Path(tmp) / "sim", 120, args.seed + 1)
        apart = {}
        if args.simulator:
            tests = everything.split("test")
            apart["simulator"] = simulator_items(Path(tmp) / "items", tests, args.simulator,
                                                 args.seed + 2)  # fmt: skip
        zoom = peer_zoom(args.peer_ground_only, args.peer_zoom)
        models = [(args.model, args.whole, None)] + (
            [(args.peer, args.peer_whole, zoom)] if args.peer else []
        )
        results = [evaluate(Classifier(m, options), sets, empty, apart, whole, zoom)
                   for m, whole, zoom in models]  # fmt: skip
        scored = {**sets, **({"pooled": [s for p in sets.values() for s in p]}
                             if len(sets) > 1 else {}), **apart}  # fmt: skip
        versus = versus_peer(results[0], results[1], scored) if len(results) > 1 else {}
    for r in results:
        del r["_right"]
    report = table(results)
    if versus:
        names = [r["model_version"] for r in results]
        report += "\n\n" + "\n".join(versus_lines(versus, *names))
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"results": results, "versus_peer": versus, "table": report}, indent=1)
        )


if __name__ == "__main__":
    main()
