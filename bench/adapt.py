"""How fast reviewed field images fix the model: the adaptation curve.

    .venv/bin/python -m bench.adapt --model models/binwatch.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv \\
        --field ../shared/datasets/waste-extra-v1/manifest.csv --night \\
        --simulator 400 --out bench/results/adapt.json

A field set is photos of one site: a manifest's test split (`--field`), crops of the
simulator's bins with test-split photos dropped on them (`--simulator N`, photos from the base
manifests' test splits only), or whole photos of a sorting device's plain floor with a small item
on it (`--small-site N`: base test photos placed with their side 15-35 % of the photo's on a
floor of one `bench.surfaces` family, `--floor`; each frame the size of the item's own photo,
or `--frame PX` on its longest side with the item at that share of it, as a camera with more
pixels than the item's photo holds it); any as a night/IR camera sees it with
`--night`. The site's photos are scored as `binwatch classify` reads them (a small item on a
plain floor read close up, `vision.zoom`) and, beside that, read whole (`*_whole`). For each K
(reviewed photos per category, as far as the set allows: at most half of a category's groups)
and seed, K photos per category are drawn by group; `binwatch retrain`'s recipe
(train.retrain.retrain, no hold-out, base features cached; `--tune-blocks` as its option, several
values compared on the same draws) trains on them, and the candidate and the model it started
from are scored on the rest of the set (never a group on both sides) and the base test split.
`--recipe field_weight=15,anchor=0.003` (repeatable; `default` is retrain's own options) compares
other retrain options on the same draws. By default retrain trains on every reviewed photo (no
hold-out: the curve says what the reviews can teach); `--holdout 0.3` runs it as `binwatch
retrain` does by default, a share of the reviewed photos held back for its gate, and reports
whether the gate would register the candidate (`gate_passed`; the candidate is scored either
way, as `--no-register` leaves it), with what the gate saw: its scores of the held-back photos
(`gate_field`) and each of them as the active model and the candidate read it (`gate_photos`),
to weigh gate rules against the rest's change (model card, "The gate on a site"). As retrain
does by default since 2026-12-07 (`refit` 1; runs named `default` before then had none), a
candidate that passed is fitted again on every reviewed photo (train.refit); where that is kept,
the rest is scored with it (`macro_recall_after`) and with the gated candidate too
(`macro_recall_after_gated`: the same draw without the refit); `--recipe refit=0` stops at the
gated candidate.
Prints the curve (macro recall on the rest, by K) and writes JSON. Each run's macro recall of
the rest comes with its 95 % interval over the rest's photos (bench.intervals), before and after:
a rest with 18 `other` photos moves 1.4 points on one of them (`--simulator 1445` scores sites of
all the base test photos). Each run also counts, per category, the rest's items that a bin of
their own category would flag as contamination under the model's thresholds (`own_bin_flags_*`:
the false flags a supervisor clears), before and after.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.field import item_scores
from bench.surfaces import FAMILIES, ground_of
from edge.simulate import item_crop
from train.augment import night_check, place_on_background
from train.evaluate import read_samples
from train.feature_cache import default_folder
from train.gate import outcome_probability
from train.manifest import Sample, load_manifests
from train.refit import GATED
from train.retrain import RetrainOptions, held_back, retrain
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.prediction import Prediction
from vision.taxonomy import Category
from vision.verdict import VerdictKind, judge_item
from vision.zoom import ZoomParams

log = logging.getLogger(__name__)
FIELDS = ("path", "split", "category", "fine_label", "source", "group")
SMALL_SIZES = (0.15, 0.35)  # --small-site: the item's longest side, share of the photo's


def scores(classifier: Classifier, samples: list[Sample]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Item scores as `binwatch classify` reads the photos, and read whole (one pass); the
    first also with the contamination flags each item would raise in its own bin."""
    readings = read_samples(classifier, samples, zoom=ZoomParams())
    answers = [r.prediction for r in readings]
    close = item_scores(answers, samples)
    close["own_bin_flags"] = own_bin_flags(classifier, answers, samples)
    close["wrong_bin_flags"] = own_bin_flags(classifier, answers, samples, wrong_bins=True)
    return close, item_scores([r.whole for r in readings], samples)


def own_bin_flags(
    classifier: Classifier,
    predictions: Sequence[Prediction],
    samples: Sequence[Sample],
    wrong_bins: bool = False,
) -> dict[str, dict[str, int]]:
    """Per category: its items, and how many of them, dropped into a bin of their own category,
    the verdict rule (the model's own thresholds) calls contaminated. Each is a false flag a
    supervisor would have to clear; an item answered "no item" raises none. `wrong_bins`: each
    item dropped into each bin of another category instead (`items` counts those drops), so
    `flagged` counts the flags that are right."""
    thresholds = classifier.metadata.thresholds
    out: dict[str, dict[str, int]] = {}
    for p, s in zip(predictions, samples, strict=True):
        if s.category is None:
            continue
        row = out.setdefault(s.category.value, {"items": 0, "flagged": 0})
        bins = [c for c in Category if c is not s.category] if wrong_bins else [s.category]
        row["items"] += len(bins)
        if not p.is_background:
            for c in bins:
                kind = judge_item(p.category_probabilities, frozenset({c}), thresholds).kind
                row["flagged"] += kind is VerdictKind.CONTAMINATED
    return dict(sorted(out.items()))


def gate_photos(models: Sequence[Path], held: list[Sample]) -> list[dict[str, Any]]:
    """Per held-back photo, what each model (the active, the candidate) gives its label and its
    outcome (category or no item) as `binwatch classify` reads it, and the label's Brier score:
    the gate's own data, to weigh gate rules against the site's change offline."""
    rows: list[dict[str, Any]] = [{"label": s.label} for s in held]
    if not held:
        return rows
    for name, path in zip(("active", "candidate"), models, strict=True):
        classifier = Classifier(path)
        readings = read_samples(classifier, held, zoom=ZoomParams())
        probs = np.stack([r.prediction.probabilities for r in readings])
        truth = np.array([list(classifier.labels).index(s.label) for s in held])
        onehot = np.eye(probs.shape[1])[truth]
        outcome = outcome_probability(probs, held, classifier)
        for i, row in enumerate(rows):
            row[name] = {"label": float(probs[i, truth[i]]), "outcome": float(outcome[i]),
                         "brier": float(((probs[i] - onehot[i]) ** 2).sum())}  # fmt: skip
    return rows


def write_manifest(rows: Sequence[Sample], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for s in rows:
            category = s.category.value if s.category is not None else ""
            writer.writerow([s.path.resolve(), "train", category, s.label, s.source, s.group])
    return path


def small_site(args: argparse.Namespace, folder: Path) -> tuple[str, list[Sample]]:
    """Base test photos, each placed small on a photo of one floor family (seeded per photo)."""
    base = list(load_manifests(args.manifest).split("test"))
    random.Random(args.seed).shuffle(base)
    draw_floor = FAMILIES[args.floor]
    made = []
    for n, s in enumerate(base[: args.small_site]):
        where = np.random.default_rng([args.seed, n])
        ground = ground_of(draw_floor, np.random.default_rng([args.seed, n, 7]))
        item = at_frame(read_image(s.path), args.frame)
        photo = place_on_background(item, where, ground=ground, size=SMALL_SIZES)
        path = folder / f"floor-{n:04d}.jpg"
        cv2.imwrite(str(path), night_check(photo) if args.night else photo,
                    [cv2.IMWRITE_JPEG_QUALITY, 85])  # fmt: skip
        made.append(Sample(path, "test", s.category, s.label, "small-site", s.group, "site"))
    night = ", night/IR" if args.night else ""
    frame = f", {args.frame}-pixel frames" if args.frame else ""
    return f"{len(made)} base test photos small on a {args.floor} floor{frame}{night}", made


def at_frame(image: np.ndarray, frame: int) -> np.ndarray:
    """The item's photo scaled so its longest side is `frame` pixels (0: as it is):
    place_on_background makes a frame that size and puts the item at its share of it, so the
    item keeps up to all of its own pixels."""
    if not frame:
        return image
    h, w = image.shape[:2]
    scale = frame / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC))


def field_set(args: argparse.Namespace, folder: Path) -> tuple[str, list[Sample]]:
    """The site's photos, written into `folder` when they are made (night, simulator, floor)."""
    if args.small_site:
        return small_site(args, folder)
    if args.simulator:
        base = [s for s in load_manifests(args.manifest).split("test")]
        random.Random(args.seed).shuffle(base)
        made = []
        for n, s in enumerate(base[: args.simulator]):
            path = folder / f"sim-{n:04d}.jpg"
            crop = item_crop(s.path, args.seed * 100_000 + n)
            cv2.imwrite(str(path), night_check(crop) if args.night else crop)
            made.append(Sample(path, "test", s.category, s.label, "simulator", s.group, "sim"))
        night = ", night/IR" if args.night else ""
        return f"simulator crops of {len(made)} base test photos{night}", made
    samples = load_manifests([args.field]).split(args.split)
    name = f"{args.field.parent.name} {args.split}"
    if not args.night:
        return name, samples
    made = []
    for n, s in enumerate(samples):
        path = folder / f"night-{n:04d}.jpg"
        cv2.imwrite(str(path), night_check(read_image(s.path)))
        made.append(Sample(path, s.split, s.category, s.label, s.source, s.group, s.manifest))
    return f"{name}, night/IR", made


def draw(samples: Sequence[Sample], k: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """K photos per category by whole groups (at most half of a category's groups), the rest."""
    rng = random.Random(seed)
    reviewed: list[Sample] = []
    for category in sorted({s.category for s in samples}, key=str):
        groups: dict[str, list[Sample]] = {}
        for s in samples:
            if s.category == category:
                groups.setdefault(s.group, []).append(s)
        order = sorted(groups)
        rng.shuffle(order)
        taken: list[Sample] = []
        for group in order[: len(order) // 2]:
            if len(taken) >= k:
                break
            taken += groups[group]
        reviewed += taken[:k]
    chosen_groups = {s.group for s in reviewed}
    return reviewed, [s for s in samples if s.group not in chosen_groups]


def parse_recipe(text: str) -> dict[str, Any]:
    """`default` or `KEY=VALUE,...` over RetrainOptions' numeric fields (retrain's own options
    where not named); the draw's seed, hold-out and blocks stay the bench's."""
    if text in ("", "default"):
        return {}
    kinds: dict[str, Any] = {f.name: type(f.default) for f in dataclasses.fields(RetrainOptions)}
    recipe: dict[str, Any] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key in ("seed", "field_holdout", "tune_blocks"):
            raise argparse.ArgumentTypeError(f"{key} is the bench's (--seed, --tune-blocks)")
        if kinds.get(key) not in (int, float):
            raise argparse.ArgumentTypeError(f"{key!r} is not a numeric retrain option")
        try:
            recipe[key] = kinds[key](value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key}={value!r}: not a number") from None
    return recipe


def recipe_name(recipe: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in recipe.items()) or "default"


def blocks_tuned(reviewed: list[Sample], holdout: float, tune: int, recipe: dict[str, Any]) -> int:
    """The blocks retrain will tune on these reviews (`tune` -1 resolves by the number it trains
    on after its hold-out, and `recipe` may move `tune_from`)."""
    options = dataclasses.replace(RetrainOptions(tune_blocks=tune), **recipe)
    return options.blocks_for(sum(not held_back(s, holdout) for s in reviewed))


def flag_line(counts: dict[str, dict[str, int]], only: str | None = None) -> str:
    """`own_bin_flags` (or `wrong_bin_flags`) in a line: flagged of items (drops), all
    categories together or `only` one."""
    rows = [c for name, c in counts.items() if only in (None, name)]
    return f"{sum(c['flagged'] for c in rows)} of {sum(c['items'] for c in rows)}"


def interval(bounds: Sequence[float]) -> str:
    return f"{100 * bounds[0]:.1f}–{100 * bounds[1]:.1f}"


def one_run(
    args: argparse.Namespace,
    work: Path,
    reviewed: list[Sample],
    rest: list[Sample],
    counts: dict[str, int],
    k: int,
    seed: int,
    tune: int,
    before: tuple[dict[str, Any], dict[str, Any]],
    recipe: dict[str, Any],
) -> dict[str, Any]:
    """One retrain on `reviewed` (tuning `tune` blocks, `recipe`'s options), scored on `rest`
    and base test."""
    run = Path(tempfile.mkdtemp(prefix=f"k{k}-s{seed}-b{tune}-", dir=work))
    manifest = write_manifest(reviewed, run / "reviewed.csv")
    began = time.perf_counter()
    options = dataclasses.replace(
        RetrainOptions(field_holdout=args.holdout, seed=seed, tune_blocks=tune), **recipe
    )
    report = retrain(args.model, args.manifest, manifest, run, options, cache_dir=default_folder())
    seconds = time.perf_counter() - began
    candidate = Classifier(run / "candidate.onnx")
    after, after_whole = scores(candidate, rest)
    base_before, base_after = (report[m]["base_test"] for m in ("active", "candidate"))
    # a refit adopted (train.refit): candidate.onnx is it, the gate judged gated.onnx
    refit = report.get("refit")
    gated_path = run / (GATED if refit and refit["adopted"] else "candidate.onnx")
    gated = scores(Classifier(gated_path), rest)[0] if refit and refit["adopted"] else after
    if refit and refit["adopted"]:
        base_after = refit["base_test"]
    # the photos retrain held back, drawn as it draws them (from the manifest it read)
    held = [s for s in load_manifests([manifest]).samples if held_back(s, args.holdout)]
    if len(held) != report["field"]["held_back"]:
        raise RuntimeError(f"{len(held)} held back here, {report['field']['held_back']} in retrain")
    photos = gate_photos([args.model, gated_path], held)
    for name in ("active", "candidate") if held else ():  # the gate's own number, read again
        loss = -np.log(np.clip([p[name]["label"] for p in photos], 1e-7, 1.0)).mean()
        gate = report[name]["field_holdout"]["log_loss"]
        if abs(loss - gate) > 1e-3:
            raise RuntimeError(f"{name}: held-back log loss {loss:.4f} here, {gate:.4f} in retrain")
    row = {
        "k": k, "seed": seed, "tune_blocks": tune, "recipe": recipe_name(recipe),
        "options": dataclasses.asdict(options),  # what "default" was when it ran
        "tuned_blocks": report["recipe"]["tuned_blocks"], "counts": counts,
        "temperature": report["recipe"]["temperature"],
        "reviewed": len(reviewed), "scored": len(rest), "seconds": seconds,
        "holdout": args.holdout, "trained_on": report["field"]["train"],
        "trained_on_grey": report["field"]["train_grey_share"],
        "gate_passed": report["decision"]["passed"], "gate_reasons": report["decision"]["reasons"],
        # what the gate saw: the held-back reviews as classify reads them, before and after
        "gate_field": {m: report[m]["field_holdout"] for m in ("active", "candidate")},
        "gate_photos": photos,
        "macro_recall_before": before[0]["macro_recall"],
        "macro_recall_after": after["macro_recall"],
        # with a refit adopted, the candidate the gate passed (the same as after where none)
        "macro_recall_after_gated": gated["macro_recall"],
        "accuracy_after_gated": gated["accuracy"],
        "own_bin_flags_after_gated": gated["own_bin_flags"],
        "refit": {k: v for k, v in (refit or {}).items()
                  if k in ("trained_on", "base_test_drop", "reasons", "adopted")},
        # over the rest's photos (bench.intervals): what a fresh rest of its size might score
        "macro_recall_95_before": before[0]["macro_recall_95"],
        "macro_recall_95_after": after["macro_recall_95"],
        "recall_after": after["recall"],
        # per category: items of the rest flagged as contamination in a bin of their own
        "own_bin_flags_before": before[0]["own_bin_flags"],
        "own_bin_flags_after": after["own_bin_flags"],
        # per category: its items dropped into each bin of another category, flagged (right)
        "wrong_bin_flags_before": before[0]["wrong_bin_flags"],
        "wrong_bin_flags_after": after["wrong_bin_flags"],
        "thresholds_after": candidate.metadata.thresholds.model_dump(mode="json"),
        # per fine label, before and after: where a category's recall is lost (bench.field)
        "by_label_before": before[0]["by_label"], "by_label_after": after["by_label"],
        "accuracy_before": before[0]["accuracy"], "accuracy_after": after["accuracy"],
        "macro_recall_before_whole": before[1]["macro_recall"],
        "macro_recall_after_whole": after_whole["macro_recall"],
        "base_test_accuracy_before": base_before["category_accuracy"],
        "base_test_accuracy_after": base_after["category_accuracy"],
        # the base test photos it answers differently (what the gate's base scores rest on)
        "base_test_changes": report.get("base_test_changes", []),
    }  # fmt: skip
    print(
        f"K={k:>3} seed {seed} blocks {row['tuned_blocks']} {row['recipe']}: "
        f"{len(reviewed)} reviewed {counts}, "
        f"{len(rest)} scored: macro recall {100 * row['macro_recall_before']:.1f} → "
        f"{100 * row['macro_recall_after']:.1f} % "
        f"({interval(row['macro_recall_95_before'])} → {interval(row['macro_recall_95_after'])}; "
        f"read whole "
        f"{100 * row['macro_recall_before_whole']:.1f} → "
        f"{100 * row['macro_recall_after_whole']:.1f}), base test accuracy "
        f"{100 * row['base_test_accuracy_before']:.2f} → "
        f"{100 * row['base_test_accuracy_after']:.2f} %, false flags in their own bins "
        f"{flag_line(row['own_bin_flags_before'])} → {flag_line(row['own_bin_flags_after'])}"
        f", hazardous items flagged in other bins "
        f"{flag_line(row['wrong_bin_flags_before'], 'hazardous')} → "
        f"{flag_line(row['wrong_bin_flags_after'], 'hazardous')} ({seconds:.0f} s)"
        + (
            f"; trained on {row['trained_on']}, gate "
            f"{'passed' if row['gate_passed'] else 'refused: ' + '; '.join(row['gate_reasons'])}"
            if args.holdout
            else ""
        )
        + (
            f"; refit on {refit['trained_on']} "
            + (
                f"adopted (the gated candidate {100 * row['macro_recall_after_gated']:.1f} %)"
                if refit["adopted"]
                else "not adopted: " + "; ".join(refit["reasons"])
            )
            if refit
            else ""
        ),
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/binwatch.onnx"))
    parser.add_argument("--manifest", type=Path, action="append", required=True, help="base")
    parser.add_argument("--field", type=Path, help="the site's manifest")
    parser.add_argument("--split", default="test", help="the field manifest's split")
    parser.add_argument("--night", action="store_true", help="the site's camera is night/IR")
    parser.add_argument("--simulator", type=int, default=0, help="N simulator crops instead")
    parser.add_argument("--small-site", type=int, default=0,
                        help="N base test photos small on a plain floor instead")  # fmt: skip
    parser.add_argument("--frame", type=int, default=0,
                        help="--small-site's frame side, pixels (0: the item photo's)")  # fmt: skip
    parser.add_argument("--floor", choices=sorted(FAMILIES), default="gradient",
                        help="--small-site's floor (bench.surfaces' families)")  # fmt: skip
    parser.add_argument("--k", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune-blocks", type=int, nargs="+", default=[-1],
                        help="blocks retrain tunes before the head (-1: its default, by the "
                        "number of reviews); several values: each on the same draws")  # fmt: skip
    parser.add_argument("--recipe", type=parse_recipe, action="append",
                        help="retrain options KEY=VALUE,... or 'default' (repeat: each on the "
                        "same draws; default: retrain's own)")  # fmt: skip
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="share of the reviewed photos retrain holds back for its gate "
                        "(0: none, the default here; 0.3: binwatch retrain's default)")  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.frame and not 64 <= args.frame <= 4096:
        parser.error(f"--frame is 64 to 4096 pixels, not {args.frame}")
    if not 0 <= args.holdout < 1:
        parser.error(f"--holdout is a share from 0 to below 1, not {args.holdout}")
    if not args.simulator and not args.small_site and args.field is None:
        parser.error("give --field MANIFEST, --simulator N or --small-site N")
    recipes = args.recipe or [{}]
    logging.basicConfig(level=logging.WARNING)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        name, samples = field_set(args, work)
        start = Classifier(args.model)
        print(f"{name}: {len(samples)} photos; model {start.metadata.model_version}")
        last: dict[int, dict[str, int]] = {}
        for k in args.k:
            for seed in range(args.seeds):
                reviewed, rest = draw(samples, k, args.seed + seed)
                cats = sorted({s.category for s in samples if s.category}, key=str)
                counts = {c.value: sum(s.category == c for s in reviewed) for c in cats}
                if last.get(seed) == counts:
                    continue  # the set allows no more than the last K did
                last[seed] = counts
                before = scores(start, rest)
                ran: set[tuple[int, str]] = set()  # once per draw: -1 may resolve to one given
                for recipe in recipes:
                    for tune in args.tune_blocks:
                        key = (blocks_tuned(reviewed, args.holdout, tune, recipe),
                               recipe_name(recipe))  # fmt: skip
                        if key not in ran:
                            ran.add(key)
                            rows.append(one_run(args, work, reviewed, rest, counts, k, seed,
                                                tune, before, recipe))  # fmt: skip
    print("\n| K per category | blocks tuned | recipe | reviewed | macro recall before → after "
          "(median of seeds) | read whole | base test accuracy after | retrain s | gate passed |\n"
          "|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    order = [recipe_name(r) for r in recipes]  # the recipes as given, `default` where put
    for k, tuned, kind in sorted({(r["k"], r["tuned_blocks"], r["recipe"]) for r in rows},
                                 key=lambda t: (t[0], t[1], order.index(t[2]))):  # fmt: skip
        mine = [r for r in rows if (r["k"], r["tuned_blocks"], r["recipe"]) == (k, tuned, kind)]
        med = {key: statistics.median(r[key] for r in mine)
               for key in ("reviewed", "macro_recall_before", "macro_recall_after",
                           "macro_recall_before_whole", "macro_recall_after_whole",
                           "base_test_accuracy_after", "seconds")}  # fmt: skip
        print(f"| {k} | {tuned} | {kind} | {med['reviewed']:.0f} | "
              f"{100 * med['macro_recall_before']:.1f} → "
              f"{100 * med['macro_recall_after']:.1f} % | "
              f"{100 * med['macro_recall_before_whole']:.1f} → "
              f"{100 * med['macro_recall_after_whole']:.1f} % | "
              f"{100 * med['base_test_accuracy_after']:.2f} % | "
              f"{med['seconds']:.0f} | "
              f"{sum(r['gate_passed'] for r in mine)} of {len(mine)} |")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"set": name, "model": str(args.model), "runs": rows},
                                       indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
