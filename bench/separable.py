"""How far a model's own features can tell a site's photos apart, by day and at night.

    .venv/bin/python -m bench.separable --model models/binwatch.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv \\
        --simulator 400 --blocks 0 1 3 --out bench/results/separable.json

A site (bench.adapt's: `--simulator N`, `--small-site N`, `--field`) is built twice, as the
camera sees it by day and through the night check. At each depth (`--blocks 0`: the pooled
features the head reads; `--blocks N`: the tensor where the last N blocks begin, averaged over
its width and height) a category-balanced softmax regression is fitted on the site's own photos
and scored on photos it did not see (k-fold by group, never a group on both sides): the macro
recall a head fitted on that site alone reads from those features, beside the model's own
reading of the same photos. Set beside what a retrain reaches on the site (bench.adapt), it says
whether the base photos and the tuned blocks add anything to what the site's own photos give
(models/README.md, "Why night stays near 91 % after reviews": by day they add, on the
simulator's grey crops they do not).
Photos are read whole (the simulator's crops are crops), or with `--close-up` a small item on a
plain floor by its close-up, the reading `binwatch classify` weighs 2/3 (vision.zoom); the model's
own reading beside it is then classify's.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from bench.adapt import field_set, scores
from bench.probe import fit_probe
from bench.surfaces import FAMILIES
from train.head import read_head
from train.manifest import Sample
from train.tail import cut_for, with_outputs
from train.views import close_up as zoomed
from vision.classifier import Classifier, session_options
from vision.imageio import read_image
from vision.preprocess import preprocess
from vision.taxonomy import Category

CATEGORIES = list(Category)


def folds_by_group(groups: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Each photo's fold, whole groups to a fold (a near-duplicate never on both sides)."""
    names = sorted(set(groups))
    random.Random(seed).shuffle(names)
    fold = {g: i % k for i, g in enumerate(names)}
    return np.array([fold[g] for g in groups])


def fit_and_score(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, weight_decay: float = 1e-3
) -> tuple[float, np.ndarray]:
    """Cross-validated macro recall of bench.probe's softmax regression (standardised features,
    each category weighing the same, L2) and its answer for every photo."""
    classes = int(y.max()) + 1
    answer = np.zeros(len(y), dtype=np.int64)
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        mean, std = x[train].mean(0), x[train].std(0) + 1e-6
        counts = np.bincount(y[train], minlength=classes).astype(np.float32)
        weights = (1.0 / np.maximum(counts, 1.0))[y[train]]
        probe = fit_probe((x[train] - mean) / std, y[train], classes, weight_decay, weights)
        with torch.no_grad():
            logits = probe(torch.from_numpy((x[test] - mean) / std).float())
        answer[test] = logits.argmax(1).numpy()
    present = np.unique(y)
    return float(np.mean([(answer[y == c] == c).mean() for c in present])), answer


def depth_names(model: onnx.ModelProto, blocks: Sequence[int]) -> list[str]:
    return [read_head(model).features if n == 0 else cut_for(model, n) for n in blocks]


def close_up(image: np.ndarray) -> np.ndarray:
    """The close-up `binwatch classify` reads of a small item on a plain floor (retrain's, from
    vision.zoom), or the photo itself where it finds none."""
    crop = zoomed(image)
    return image if crop is None else crop


def features(
    classifier: Classifier,
    model: onnx.ModelProto,
    names: list[str],
    samples: list[Sample],
    close: bool = False,
) -> list[np.ndarray]:
    """Each named tensor per photo (its close-up with `close`), averaged over width and height
    where it has them."""
    session = ort.InferenceSession(
        with_outputs(model, names).SerializeToString(),
        session_options(classifier.options.threads),
        providers=["CPUExecutionProvider"],
    )
    feed = session.get_inputs()[0].name
    out: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, len(samples), 32):
        images = [read_image(s.path) for s in samples[start : start + 32]]
        images = [close_up(image) for image in images] if close else images
        tensor = preprocess(images, classifier.metadata.preprocess, "bgr")
        for i, value in enumerate(session.run(names, {feed: tensor})):
            out[i].append(value.reshape(value.shape[0], value.shape[1], -1).mean(2))
    return [np.concatenate(parts) for parts in out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/binwatch.onnx"))
    parser.add_argument("--manifest", type=Path, action="append", required=True, help="base")
    parser.add_argument("--field", type=Path, help="the site's manifest")
    parser.add_argument("--split", default="test")
    parser.add_argument("--simulator", type=int, default=0)
    parser.add_argument("--small-site", type=int, default=0)
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--floor", choices=sorted(FAMILIES), default="gradient")
    parser.add_argument("--seed", type=int, default=0, help="the site (as bench.adapt's)")
    parser.add_argument(
        "--blocks", type=int, nargs="+", default=[0, 1, 3],
        help="0: the pooled features; N: where the last N blocks begin",
    )  # fmt: skip
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--close-up", action="store_true",
                        help="a small item by its close-up (vision.zoom)")  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not (args.field or args.simulator or args.small_site):
        parser.error("one of --field, --simulator, --small-site")
    logging.basicConfig(level=logging.WARNING)
    classifier = Classifier(args.model)
    model = onnx.load(str(args.model))
    names = depth_names(model, args.blocks)
    result: dict[str, Any] = {"model": classifier.metadata.model_version, "blocks": args.blocks,
                              "close_up": args.close_up}  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        for night in (False, True):
            args.night = night
            folder = Path(work) / ("night" if night else "day")
            folder.mkdir()
            name, samples = field_set(args, folder)
            labelled = [(s, s.category) for s in samples if s.category is not None]  # no "no item"
            samples = [s for s, _ in labelled]
            y = np.array([CATEGORIES.index(category) for _, category in labelled])
            folds = folds_by_group([s.group for s in samples], args.folds, seed=1)
            own = scores(classifier, samples)[0 if args.close_up else 1]["macro_recall"]
            row: dict[str, Any] = {"site": name, "photos": len(samples), "model_reads": own}
            found = features(classifier, model, names, samples, args.close_up)
            for n, x in zip(args.blocks, found, strict=True):
                recall = fit_and_score(x, y, folds)[0]
                row[f"blocks_{n}"] = {"dim": x.shape[1], "macro_recall": recall}
            result["night" if night else "day"] = row
    print(f"{result['day']['site']}: the model reads it {100 * result['day']['model_reads']:.1f} % "
          f"by day, {100 * result['night']['model_reads']:.1f} % at night "
          f"({'as binwatch classify reads it' if args.close_up else 'whole'})")  # fmt: skip
    for n in args.blocks:
        day, night_ = (result[t][f"blocks_{n}"] for t in ("day", "night"))
        where = "pooled features" if n == 0 else f"where the last {n} blocks begin"
        day_r, night_r = 100 * day["macro_recall"], 100 * night_["macro_recall"]
        print(f"  a head fitted on the site alone, {where} ({day['dim']}): "
              f"day {day_r:.1f} %, night {night_r:.1f} %")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
