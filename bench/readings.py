"""Reading rules tried after the fact on one model's saved readings, without running it again.

    .venv/bin/python -m bench.readings read --model models/binwatch.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv --simulator 1445 \\
        --out /tmp/readings.npz
    .venv/bin/python -m bench.readings score /tmp/readings.npz --out bench/results/readings.json

`read` reads each manifest's test split (`--split`), and with `--simulator N` bench.field's
crops of the simulator's bins (the same crops as `bench.field --simulator N` at the same
`--seed`), as `binwatch classify` reads them (vision.zoom), by day and at the night check
(`--lights`: also the photo placed on a drawn bin floor, bench.field's, by day and at night),
each photo also mirrored and turned (VIEWS), and saves every reading's output probabilities with
the truth.

`score` compares rules on those readings, each against the reading as it is, on the same photos
(an image the model calls empty stays empty and counts as wrong, as classify answers):

- **more views of the photo**: the mean of the item probabilities of the photo as it is and of
  it mirrored and/or turned (the training draws turns and mirrors, so each is a photo the model
  knows how to read);
- **the category sum**: the category whose labels' probabilities sum highest (what the verdict
  reads), where classify answers the top label's category;
- **a category prior**: the item probabilities times (labels of the label's category) ** -alpha.
  A model trained with each label drawn equally weighs a category by its labels (seven
  recyclable labels, one kitchen label); alpha 1 weighs the four categories the same, which is
  what macro recall counts.

Each rule's macro recall, accuracy and recall per category, and its macro recall minus the
reading as it is with a 95 % interval over the photos (bench.intervals.paired_difference); each
view alone for comparison; and per category, what the photos read wrong as they are were read
as (`misread`).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.field import on_ground, simulator_items
from bench.intervals import macro_recall, paired_difference
from train.augment import night_check
from train.evaluate import classify_samples, split_outputs
from train.grey_prior import category_prior
from train.manifest import Sample, load_manifests
from vision.classifier import Classifier, ClassifierOptions
from vision.metadata import BACKGROUND
from vision.taxonomy import Category
from vision.zoom import ZoomParams

log = logging.getLogger(__name__)
CATEGORIES = list(Category)
Transform = Callable[[np.ndarray], np.ndarray]
VIEWS: dict[str, Transform | None] = {
    "as_is": None,
    "mirror": lambda image: np.ascontiguousarray(cv2.flip(image, 1)),
    "turned": lambda image: np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_180)),
    "quarter": lambda image: np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)),
}
_FLOOR = on_ground("floor", 11)  # bench.field's drawn bin floor, the same place and scale
LIGHTS: dict[str, Transform | None] = {
    "day": None,
    "night": night_check,
    # the photo placed on a drawn bin floor: a plain studio background cut away (about a third
    # of the test photos), any other photo as a feathered patch (train.augment)
    "floor": _FLOOR,
    "floor_night": lambda image: night_check(_FLOOR(image)),
}
VIEW_RULES = (("mirror",), ("turned",), ("mirror", "turned"), ("mirror", "turned", "quarter"))
PRIORS = (0.25, 0.5, 0.75, 1.0)


def _seen(light: Transform | None, view: Transform | None) -> Transform | None:
    if light is None or view is None:
        return light or view
    return lambda image: view(light(image))


def _category(category_of: Callable[[str], Category], label: str) -> int:
    return -1 if label == BACKGROUND else CATEGORIES.index(category_of(label))


def read(
    classifier: Classifier,
    sets: dict[str, list[Sample]],
    views: Sequence[str],
    lights: Sequence[str] = ("day", "night"),
) -> dict[str, np.ndarray]:
    """Every set under every light (LIGHTS: also a drawn bin floor) and view, as classify reads
    it: `{set}/{light}/{view}` the probabilities (photos × outputs), `{set}/{light}/{view}/empty`
    whether it answered "no item", `{set}/truth` the category indices; `labels` and
    `label_categories` (the profile's category index of each output, -1 for `background`)."""
    profile = classifier.profile
    labels = list(classifier.labels)
    out: dict[str, np.ndarray] = {
        "labels": np.array(labels),
        "label_categories": np.array([_category(profile.category_of, label) for label in labels]),
    }
    for name, every in sets.items():
        items = [s for s in every if s.category is not None]
        out[f"{name}/truth"] = np.array([CATEGORIES.index(s.category) for s in items
                                         if s.category is not None])  # fmt: skip
        for light in lights:
            for view in views:
                got = classify_samples(classifier, items, _seen(LIGHTS[light], VIEWS[view]),
                                       zoom=ZoomParams())  # fmt: skip
                out[f"{name}/{light}/{view}"] = np.stack([p.probabilities for p in got])
                out[f"{name}/{light}/{view}/empty"] = np.array([p.is_background for p in got])
                log.info("%s %s %s: %d photos", name, light, view, len(got))
    return out


def with_prior(items: np.ndarray, item_categories: np.ndarray, alpha: float) -> np.ndarray:
    """Item probabilities times (labels of each label's category) ** -alpha, renormalised
    (train.grey_prior's `category_prior`, which a file can hold for grey frames)."""
    weighed = items * np.exp(category_prior(item_categories.tolist(), alpha))
    return np.asarray(weighed / weighed.sum(axis=1, keepdims=True))


def right_answers(
    items: np.ndarray, empty: np.ndarray, item_categories: np.ndarray, truth: np.ndarray
) -> np.ndarray:
    """Whether the top label's category is the truth (an empty answer is wrong)."""
    return np.asarray((item_categories[items.argmax(axis=1)] == truth) & ~empty)


def summary(right: np.ndarray, truth: np.ndarray, plain: np.ndarray) -> dict[str, Any]:
    recall = {c.value: float(right[truth == i].mean()) for i, c in enumerate(CATEGORIES)
              if (truth == i).any()}  # fmt: skip
    return {
        "macro_recall": macro_recall(right, truth),
        "accuracy": float(right.mean()),
        "right": int(right.sum()),
        "recall": recall,
        "versus_as_is": paired_difference(right, plain, truth),
    }


def pooled(readings: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The readings with `pooled/...`: the manifests' test splits together (not the simulator's
    crops, which are photos of those splits again), where there are two or more."""
    names = sorted({key.split("/")[0] for key in readings if key.endswith("/truth")})
    names = [name for name in names if name not in ("simulator", "pooled")]
    if len(names) < 2:
        return readings
    tails = {key[len(names[0]) :] for key in readings if key.startswith(names[0] + "/")}
    joined = {"pooled" + tail: np.concatenate([readings[name + tail] for name in names])
              for tail in tails if all(name + tail in readings for name in names)}  # fmt: skip
    return readings | joined


def score(readings: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every rule on every set and light that the readings hold, and on the test splits pooled
    (module doc)."""
    readings = pooled(readings)
    labels = [str(label) for label in readings["labels"]]
    categories = readings["label_categories"]
    item_categories = categories[categories >= 0]
    item_labels = [label for label, c in zip(labels, categories, strict=True) if c >= 0]

    def items_of(key: str) -> np.ndarray:
        return split_outputs(readings[key], labels)[0]

    out: dict[str, Any] = {}
    sets = sorted({key.split("/")[0] for key in readings if key.endswith("/truth")})
    for name in sets:
        truth = readings[f"{name}/truth"]
        for light in LIGHTS:
            base = f"{name}/{light}"
            if f"{base}/as_is" not in readings:
                continue
            items = items_of(f"{base}/as_is")
            empty = readings[f"{base}/as_is/empty"]
            plain = right_answers(items, empty, item_categories, truth)
            rules = {"as_is": plain}
            views = {v: items_of(f"{base}/{v}") for v in VIEWS if f"{base}/{v}" in readings}
            for view, seen in views.items():
                if view != "as_is":  # the view alone, its own "no item" answers
                    alone = readings[f"{base}/{view}/empty"]
                    rules[f"{view} alone"] = right_answers(seen, alone, item_categories, truth)
            for extra in VIEW_RULES:
                if all(view in views for view in extra):
                    mean = np.mean([items] + [views[v] for v in extra], axis=0)
                    rules["as_is+" + "+".join(extra)] = right_answers(
                        mean, empty, item_categories, truth
                    )
            sums = np.stack([items[:, item_categories == c].sum(axis=1)
                             for c in range(len(CATEGORIES))], axis=1)  # fmt: skip
            rules["category sum"] = (sums.argmax(axis=1) == truth) & ~empty
            for alpha in PRIORS:
                rules[f"prior {alpha:g}"] = right_answers(
                    with_prior(items, item_categories, alpha), empty, item_categories, truth
                )
            out[base] = {
                "photos": len(truth),
                "misread": misread(items, empty, item_categories, truth, item_labels),
            } | {rule: summary(right, truth, plain) for rule, right in rules.items()}
    return out


def misread(
    items: np.ndarray,
    empty: np.ndarray,
    item_categories: np.ndarray,
    truth: np.ndarray,
    item_labels: Sequence[str],
) -> dict[str, Any]:
    """Per category, the photos read as it is that get another category: the labels they are
    read as ("no item" for an empty answer), and the median of their top label's probability
    and of their own category's."""
    top = items.argmax(axis=1)
    wrong = (item_categories[top] != truth) | empty
    out: dict[str, Any] = {}
    for i, c in enumerate(CATEGORIES):
        rows = np.flatnonzero(wrong & (truth == i))
        if not len(rows):
            continue
        said = ["no item" if empty[r] else item_labels[top[r]] for r in rows]
        own = items[rows][:, item_categories == i].sum(axis=1)
        out[c.value] = {
            "photos": len(rows),
            "read_as": dict(Counter(said).most_common()),
            "median_top": float(np.median(items[rows].max(axis=1))),
            "median_own": float(np.median(own)),
        }
    return out


def table(scored: dict[str, Any]) -> str:
    lines = ["| set | light | rule | macro recall | vs as is (95 % interval) | accuracy | "
             "R / H / K / O |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for base, rules in scored.items():
        name, light = base.split("/")
        for rule, s in rules.items():
            if rule in ("photos", "misread"):
                continue
            vs = s["versus_as_is"]
            recall = " / ".join(f"{100 * s['recall'].get(c.value, float('nan')):.1f}"
                                for c in CATEGORIES)  # fmt: skip
            lines.append(
                f"| {name} ({rules['photos']}) | {light} | {rule} | {100 * s['macro_recall']:.2f} "
                f"| {100 * vs['difference']:+.2f} ({100 * vs['low']:+.2f} to "
                f"{100 * vs['high']:+.2f}) | {100 * s['accuracy']:.2f} | {recall} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reader = commands.add_parser("read", help="read the sets and save the readings")
    reader.add_argument("--model", type=Path, required=True)
    reader.add_argument("--manifest", type=Path, action="append", required=True)
    reader.add_argument("--simulator", type=int, default=0,
                        help="also N crops of the simulator's bins (bench.field's)")  # fmt: skip
    reader.add_argument("--seed", type=int, default=0, help="as bench.field's --seed")
    reader.add_argument("--split", default="test",
                        help="the manifests' split to read (val: to choose a rule on)")  # fmt: skip
    reader.add_argument("--views", nargs="+", choices=list(VIEWS), default=list(VIEWS))
    reader.add_argument("--lights", nargs="+", choices=list(LIGHTS), default=["day", "night"],
                        help="as the photo is, at the night check, placed on a drawn bin floor "
                        "(a plain studio background cut away), or that at night")  # fmt: skip
    reader.add_argument("--threads", type=int, default=2)
    reader.add_argument("--out", type=Path, required=True, help="the readings (.npz)")
    scorer = commands.add_parser("score", help="score the rules on saved readings")
    scorer.add_argument("readings", type=Path)
    scorer.add_argument("--out", type=Path, help="write the scores as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "read":
        views = ["as_is", *[v for v in args.views if v != "as_is"]]
        classifier = Classifier(args.model, ClassifierOptions(threads=args.threads, batch_size=32))
        sets = {m.parent.name: load_manifests([m]).split(args.split) for m in args.manifest}
        with tempfile.TemporaryDirectory() as tmp:
            if args.simulator:
                tests = load_manifests(args.manifest).split("test")
                sets["simulator"] = simulator_items(Path(tmp) / "items", tests, args.simulator,
                                                    args.seed + 2)  # fmt: skip
            readings = read(classifier, sets, views, args.lights)
        readings["model_version"] = np.array(classifier.metadata.model_version)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out, **readings)  # type: ignore[arg-type]
        return
    with np.load(args.readings) as saved:
        readings = {key: saved[key] for key in saved.files}
    scored = score(readings)
    report = table(scored)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        version = str(readings.get("model_version", ""))
        args.out.write_text(json.dumps({"model_version": version, "scores": scored,
                                        "table": report}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
