"""A new site's floor: how many reviewed false triggers it takes before the model stays silent
on it.

    .venv/bin/python -m bench.new_floor --model models/binwatch.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv \\
        --family treadplate --k 5 10 20 --out bench/results/new-floor.json

No drawn training set covers every floor: a family of `bench.surfaces` that the training never
draws (`treadplate`) is answered "no item" for a few per cent of its photos at most. At a site
with such a floor every trigger on the empty floor becomes an event, a supervisor names it
`background` on the review page, and `binwatch retrain` trains on it. This bench does that: for
each K it draws K photos of `--family` (with its own seed, never the photos it scores on),
labels them `background` as a reviewed export does, retrains from `--model` with retrain's own
recipe (`train.retrain.retrain`; nothing held back, so the gate is not asked), and scores the
candidate beside the model on `bench.surfaces`' photos: every family by day and at night, and
with `--items` the real test items placed on each family (dropped as "no item", macro recall),
plus retrain's own base test accuracy before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.adapt import write_manifest
from bench.surfaces import FAMILIES, draw_items, draw_set, score_model, write_photo
from train.feature_cache import default_folder
from train.manifest import Sample
from train.retrain import RetrainOptions, retrain
from vision.metadata import BACKGROUND

log = logging.getLogger(__name__)
REVIEW_SEED = 7919  # the reviewed photos' draw: never the bench's own photos (its seed 0)


def reviewed_floor(folder: Path, family: str, k: int, seed: int) -> list[Sample]:
    """K photos of `family`, written as JPEG and labelled as the review page exports a
    false trigger: `background`, no category, one event each."""
    rng = np.random.default_rng([REVIEW_SEED, seed])
    rows = []
    for i in range(k):
        path = write_photo(folder / f"{family}-{i:03d}.jpg", FAMILIES[family](rng))
        rows.append(Sample(path, "train", None, BACKGROUND, "review", f"{family}-{i}", "review"))
    return rows


def _line(name: str, scored: dict[str, Any], family: str) -> str:
    mine = scored["families"][family]
    cells = (f"{name:<26} {family} {100 * mine['day']['empty']:5.1f} / "
             f"{100 * mine['night']['empty']:5.1f} %, all {100 * scored['day']['empty']:5.1f} / "
             f"{100 * scored['night']['empty']:5.1f} %")  # fmt: skip
    if "items" in scored:
        on = scored["items"]
        cells += (f"; items on {family} dropped {100 * on[family]['dropped_as_empty']:.1f} %,"
                  f" all {100 * on['all']['dropped_as_empty']:.1f} %, macro recall "
                  f"{100 * on['all']['macro_recall']:.1f} %")  # fmt: skip
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/binwatch.onnx"))
    parser.add_argument("--manifest", type=Path, action="append", required=True,
                        help="base manifests (--items: from their test)")  # fmt: skip
    parser.add_argument("--family", choices=list(FAMILIES), default="treadplate")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--per-family", type=int, default=40)
    parser.add_argument("--items", type=int, default=300, help="0: no items placed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0,
                        help="at most N base photos a split (a quick run; 0: all)")  # fmt: skip
    parser.add_argument(
        "--base-views",
        type=int,
        default=RetrainOptions.base_views,
        help="as binwatch retrain's (1: base train photos as they are only)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if min(args.k) < 1 or args.per_family < 1 or args.items < 0:
        parser.error("--k and --per-family must be 1 or more, --items 0 or more")
    logging.basicConfig(level=logging.WARNING)
    items = draw_items(args.manifest, args.items, args.seed) if args.items else []
    results: dict[str, Any] = {"family": args.family, "per_family": args.per_family,
                               "seed": args.seed, "items": len(items),
                               "base_views": args.base_views, "runs": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench").mkdir()
        photos = draw_set(work / "bench", args.per_family, args.seed)
        results["before"] = score_model(args.model, photos, items, args.seed)
        print(_line(f"{results['before']['version']}", results["before"], args.family))
        for k in args.k:
            run = work / f"k{k}"
            run.mkdir()
            reviewed = reviewed_floor(run, args.family, k, args.seed)
            manifest = write_manifest(reviewed, run / "reviewed.csv")
            began = time.perf_counter()
            options = RetrainOptions(field_holdout=0.0, seed=args.seed, base_views=args.base_views)
            report = retrain(args.model, args.manifest, manifest, run, options,
                             limit=args.limit, cache_dir=default_folder())  # fmt: skip
            seconds = time.perf_counter() - began
            after = score_model(run / "candidate.onnx", photos, items, args.seed)
            after.update(
                k=k,
                seconds=seconds,
                tuned_blocks=report["recipe"]["tuned_blocks"],
                base_test_accuracy_before=report["active"]["base_test"]["category_accuracy"],
                base_test_accuracy_after=report["candidate"]["base_test"]["category_accuracy"],
            )
            results["runs"].append(after)
            print(_line(f"after {k} reviewed", after, args.family)
                  + f"; base test {100 * after['base_test_accuracy_before']:.2f} → "
                  f"{100 * after['base_test_accuracy_after']:.2f} % ({seconds:.0f} s)",
                  flush=True)  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
