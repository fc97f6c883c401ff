"""How a model does on what a camera over a bin sees, next to a peer, in the same run.

    .venv/bin/python -m bench.field --model models/binwatch.onnx --peer OLD.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv --out bench/results/field.json

Every answer is read as `binwatch classify --json` gives it: the top label's category, and an
image the model calls empty counts as wrong. For each manifest's test split and for them pooled:

- category accuracy, macro recall and recall per category, by day and as a night/IR camera sees
  the same photos (grey, contrast ×0.7, brightness +30: `cv2.convertScaleAbs(grey, 0.7, 30)`);
- how many real items the model drops as "no item";
- risk–coverage: the accuracy of the most confident share of answers;
- contamination flags at the model's own thresholds, every photo dropped into every bin.

And the held-out empty set: crops with no item (the test split's tray and pill photo corners,
drawn floors, drawn hands: train.background) plus crops of the simulator's empty bins; the share
the model answers "no item". The peer (e.g. the model before) runs on the same images.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.simulate import BINS, empty_scene
from train.augment import draw_floor, night_check, place_on_background, textured_ground
from train.background import make_backgrounds
from train.evaluate import classify_samples, contamination_flags, empty_rejection
from train.manifest import Sample, load_manifests
from vision.classifier import Classifier, ClassifierOptions
from vision.prediction import Prediction
from vision.taxonomy import Category

log = logging.getLogger(__name__)
CATEGORIES = list(Category)
COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.5)
Transform = Callable[[np.ndarray], np.ndarray]


def item_scores(predictions: Sequence[Prediction], samples: Sequence[Sample]) -> dict[str, Any]:
    """Scores as `binwatch classify` answers: an empty answer is a wrong one."""
    truth = np.array([CATEGORIES.index(s.category) for s in samples if s.category is not None])
    answer = np.array([-1 if p.is_background else CATEGORIES.index(p.category)
                       for p in predictions])  # fmt: skip
    right = answer == truth
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
        "recall": recall,
        "dropped_as_empty": float(np.mean([p.is_background for p in predictions])),
        "risk_coverage": coverage,
    }


def flags(
    classifier: Classifier, predictions: Sequence[Prediction], samples: Sequence[Sample]
) -> dict[str, Any]:
    kept = [(p, s) for p, s in zip(predictions, samples, strict=True) if not p.is_background]
    probs = np.array([[p.category_probabilities[c] for c in CATEGORIES] for p, _ in kept])
    truth = np.array([CATEGORIES.index(s.category) for _, s in kept if s.category is not None])
    made = contamination_flags(probs, truth, classifier)
    return {"all": made["all"], "hazardous_and_kitchen_items": made["hazardous_and_kitchen_items"]}


def on_ground(kind: str, seed: int) -> Transform:
    """The photo's item placed on a drawn bin floor or on a textured ground (grass, pavement,
    gravel); the same seed puts it at the same place and scale on either."""

    def place(image: np.ndarray) -> np.ndarray:
        where = np.random.default_rng(seed + int(image[::9, ::9].sum()))
        own = np.random.default_rng(seed + 1)
        draw = textured_ground if kind == "textured" else draw_floor
        return place_on_background(image, where, ground=lambda _, h, w: draw(own, h, w))

    return place


def swap_scores(
    floor: Sequence[Prediction], textured: Sequence[Prediction], samples: Sequence[Sample]
) -> dict[str, Any]:
    """The same item on two grounds must get the same answer: how often it does not."""
    changed = [a.is_background != b.is_background or a.category != b.category
               for a, b in zip(floor, textured, strict=True)]  # fmt: skip
    return {
        "changed": float(np.mean(changed)),
        "floor": item_scores(floor, samples),
        "textured": item_scores(textured, samples),
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


VARIANTS: dict[str, Transform | None] = {
    "day": None,
    "night": night_check,
    "floor": on_ground("floor", 11),
    "textured": on_ground("textured", 11),
}


def evaluate(
    classifier: Classifier, sets: dict[str, list[Sample]], empty: list[Sample]
) -> dict[str, Any]:
    """Each set as it is, at night and on two grounds; `pooled`: all sets together."""
    result: dict[str, Any] = {"model_version": classifier.metadata.model_version, "sets": {}}
    made: dict[str, dict[str, list[Prediction]]] = {}
    for name, samples in sets.items():
        made[name] = {v: classify_samples(classifier, samples, t) for v, t in VARIANTS.items()}
    if len(sets) > 1:
        sets = {**sets, "pooled": [s for part in sets.values() for s in part]}
        made["pooled"] = {v: [p for part in list(made.values()) for p in part[v]] for v in VARIANTS}
    for name, samples in sets.items():
        got = made[name]
        result["sets"][name] = {
            "day": item_scores(got["day"], samples),
            "night": item_scores(got["night"], samples),
            "flags": flags(classifier, got["day"], samples),
            "ground_swap": swap_scores(got["floor"], got["textured"], samples),
        }
    result["empty"] = empty_rejection(classifier, empty)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| set | model | accuracy | macro recall | recall R/H/K/O | night macro recall | "
        "dropped as empty | acc. of 70 % most confident | answer changes with the ground |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = list(results[0]["sets"])
    for name in names:
        for r in results:
            day, dark = r["sets"][name]["day"], r["sets"][name]["night"]
            rec = "/".join(
                f"{100 * day['recall'].get(c.value, float('nan')):.1f}" for c in CATEGORIES
            )
            lines.append(
                f"| {name} | {r['model_version']} | {100 * day['accuracy']:.2f} % | "
                f"{100 * day['macro_recall']:.2f} % | {rec} | {100 * dark['macro_recall']:.2f} % | "
                f"{100 * day['dropped_as_empty']:.2f} % | "
                f"{100 * day['risk_coverage']['70%']:.2f} % | "
                f"{100 * r['sets'][name]['ground_swap']['changed']:.1f} % |"
            )
    lines.append("")
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
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
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
        models = [args.model] + ([args.peer] if args.peer else [])
        results = [evaluate(Classifier(m, options), sets, empty) for m in models]
    report = table(results)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"results": results, "table": report}, indent=1))


if __name__ == "__main__":
    main()
