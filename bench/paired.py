"""Two retrain recipes on the same draws: the paired comparison `bench.adapt`'s files allow.

    .venv/bin/python -m bench.paired \\
        --pair bench/results/adapt-simulator-night-2.10-in-graph.json \\
               bench/results/adapt-simulator-night-2.10-keep-features.json \\
        --pair ...-site1-... ...-site1-... --blocks 2 \\
        --candidate-recipe keep_features=100.0

Each `--pair BASE CANDIDATE` is one site: two `bench.adapt` JSON files run on the same site (the
same `--simulator`/`--small-site`, `--seed`, `--night`), so their runs with the same K and draw
(`seed`) reviewed the same photos and scored the same rest. Within each file the runs are taken
by recipe (`--base-recipe`, `--candidate-recipe`; `bench.adapt` names them, `default` is
retrain's own options) and, with `--blocks`, by the blocks tuned (`--candidate-blocks` for the
candidate's: two block counts in one file). The two files may start from different models on
the same draws; a draw whose reviewed photos per category or scored rest differ is refused. For
every draw it prints the macro recall of the rest before (the base file's model) and after each
recipe, the photos right, the gate's answer and the base test accuracy; then the mean paired
difference with its range, how many draws went each way and the exact two-sided sign test on
them, and the photos right over all draws.
A site's draws differ by a photo or two (one `other` crop can be 1.25 points of macro recall),
so a recipe that is better should be better on most draws and in photos, not in one mean.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Draw:
    """One draw of a site as two recipes read it."""

    site: str
    k: int
    seed: int
    before: float  # macro recall of the rest, the base file's model before any retrain
    base: dict[str, Any]
    candidate: dict[str, Any]

    @property
    def difference(self) -> float:
        return float(self.candidate["macro_recall_after"] - self.base["macro_recall_after"])


def photos_right(run: dict[str, Any]) -> int | None:
    """How many of the rest's photos the candidate of `run` read right (None: not recorded)."""
    if "scored" not in run or "accuracy_after" not in run:
        return None
    return round(float(run["accuracy_after"]) * int(run["scored"]))


def _runs(
    path: Path, recipe: str, blocks: int | None
) -> tuple[str, dict[tuple[int, int], dict[str, Any]]]:
    """The file's model and its runs of `recipe` (and `blocks`), by (K, draw)."""
    data = json.loads(path.read_text())
    rows = data["runs"]
    chosen: dict[tuple[int, int], dict[str, Any]] = {}
    for run in rows:
        if run["recipe"] != recipe or (blocks is not None and run["tuned_blocks"] != blocks):
            continue
        key = (int(run["k"]), int(run["seed"]))
        if key in chosen:
            raise ValueError(
                f"{path}: two runs of recipe {recipe!r} at K = {key[0]}, draw {key[1]}; "
                "give --blocks to tell them apart"
            )
        chosen[key] = run
    if not chosen:
        recipes = sorted({r["recipe"] for r in rows})
        raise ValueError(f"{path}: no run of recipe {recipe!r} (it has {', '.join(recipes)})")
    return str(data.get("model", "")), chosen


def pair_draws(
    pairs: Sequence[tuple[Path, Path]],
    base_recipe: str = "default",
    candidate_recipe: str = "default",
    blocks: int | None = None,
    candidate_blocks: int | None = None,
) -> list[Draw]:
    """The draws both files of each pair hold, in order; a draw one file lacks is an error (the
    comparison would otherwise be of what happened to be run), and so is one whose reviewed
    photos per category or whose scored rest differ, or that the same model read otherwise
    before any retrain. `blocks`: the runs that tuned that many blocks, on both sides unless
    `candidate_blocks` names the candidate's."""
    draws = []
    for base_path, candidate_path in pairs:
        base_model, base = _runs(base_path, base_recipe, blocks)
        tuned = blocks if candidate_blocks is None else candidate_blocks
        candidate_model, candidate = _runs(candidate_path, candidate_recipe, tuned)
        if set(base) != set(candidate):
            raise ValueError(
                f"{base_path} and {candidate_path} hold different draws: "
                f"{sorted(base)} against {sorted(candidate)} (K, draw)"
            )
        same_model = base_model == candidate_model
        for key in sorted(base):
            b, c = base[key], candidate[key]
            read_otherwise = abs(b["macro_recall_before"] - c["macro_recall_before"]) > 1e-9
            if (same_model and read_otherwise) or any(
                b.get(f) != c.get(f) for f in ("counts", "scored", "reviewed")
            ):
                raise ValueError(
                    f"{candidate_path}, K = {key[0]}, draw {key[1]}: other photos reviewed or "
                    "scored than in the base file: not the same site and draw"
                )
            site = candidate_path.stem
            draws.append(Draw(site, key[0], key[1], float(b["macro_recall_before"]), b, c))
    return draws


def sign_test(higher: int, lower: int) -> float:
    """Exact two-sided sign test: the chance of a split at least this uneven, ties left out."""
    n = higher + lower
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(higher, lower) + 1)) / float(2**n)
    return min(1.0, 2 * tail)


def summary(draws: Sequence[Draw]) -> dict[str, Any]:
    differences = [d.difference for d in draws]
    higher = sum(x > 1e-9 for x in differences)
    lower = sum(x < -1e-9 for x in differences)
    base_right = [photos_right(d.base) for d in draws]
    candidate_right = [photos_right(d.candidate) for d in draws]
    counted = [
        (b, c)
        for b, c in zip(base_right, candidate_right, strict=True)
        if b is not None and c is not None
    ]
    scored = [d.candidate.get("scored") for d in draws]
    return {
        "draws": len(draws),
        "mean_difference": statistics.fmean(differences) if differences else 0.0,
        "min_difference": min(differences, default=0.0),
        "max_difference": max(differences, default=0.0),
        "higher": higher,
        "lower": lower,
        "same": len(draws) - higher - lower,
        "sign_test_p": sign_test(higher, lower),
        "photos_right_base": sum(b for b, _ in counted),
        "photos_right_candidate": sum(c for _, c in counted),
        "photos_counted_draws": len(counted),
        "photos_scored": sum(s for s in scored if s is not None),
        "gate_passed_base": sum(bool(d.base.get("gate_passed")) for d in draws),
        "gate_passed_candidate": sum(bool(d.candidate.get("gate_passed")) for d in draws),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table(draws: Sequence[Draw], names: tuple[str, str]) -> str:
    head = (
        f"| site | K | draw | before | {names[0]} | {names[1]} | difference | photos right "
        "| gate | base test after |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for d in draws:
        right = f"{photos_right(d.base)} / {photos_right(d.candidate)}"
        gate = " / ".join(
            "passed" if r.get("gate_passed") else ("refused" if "gate_passed" in r else "-")
            for r in (d.base, d.candidate)
        )
        base_test = " / ".join(_pct(r["base_test_accuracy_after"]) for r in (d.base, d.candidate))
        lines.append(
            f"| {d.site} | {d.k} | {d.seed} | {_pct(d.before)} "
            f"| {_pct(d.base['macro_recall_after'])} | {_pct(d.candidate['macro_recall_after'])} "
            f"| {100 * d.difference:+.1f} | {right} | {gate} | {base_test} |"
        )
    return "\n".join(lines)


def describe(s: dict[str, Any], names: tuple[str, str]) -> str:
    return (
        f"{names[1]} minus {names[0]} over {s['draws']} draws: mean "
        f"{100 * s['mean_difference']:+.2f} points of macro recall "
        f"({100 * s['min_difference']:+.1f} to {100 * s['max_difference']:+.1f}); "
        f"{s['higher']} higher, {s['lower']} lower, {s['same']} the same (sign test p = "
        f"{s['sign_test_p']:.2f}); photos right {s['photos_right_candidate']} against "
        f"{s['photos_right_base']} (of {s['photos_scored']} scored, {s['photos_counted_draws']} "
        f"draws that record them); gate passed {s['gate_passed_candidate']} against "
        f"{s['gate_passed_base']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.paired",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pair", nargs=2, type=Path, action="append", required=True,
                        metavar=("BASE", "CANDIDATE"))  # fmt: skip
    parser.add_argument("--base-recipe", default="default")
    parser.add_argument("--candidate-recipe", default="default")
    parser.add_argument("--blocks", type=int, default=None, help="only runs that tuned this many")
    parser.add_argument("--candidate-blocks", type=int, default=None,
                        help="the candidate tuned this many (default: --blocks)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the draws and the summary as JSON")
    args = parser.parse_args(argv)
    try:
        draws = pair_draws([tuple(p) for p in args.pair], args.base_recipe,
                           args.candidate_recipe, args.blocks,
                           args.candidate_blocks)  # fmt: skip
    except (OSError, ValueError, KeyError) as error:
        parser.error(str(error))
    names = (args.base_recipe, args.candidate_recipe)
    if args.candidate_blocks is not None and args.candidate_blocks != args.blocks:
        names = (f"{names[0]}, {args.blocks} blocks", f"{names[1]}, {args.candidate_blocks} blocks")
    if names[0] == names[1]:
        names = ("base", "candidate")
    result = summary(draws)
    print(table(draws, names))
    print(describe(result, names))
    if args.out:
        rows = [
            {
                "site": d.site, "k": d.k, "seed": d.seed, "before": d.before,
                "base": d.base["macro_recall_after"],
                "candidate": d.candidate["macro_recall_after"],
                "photos_right": [photos_right(d.base), photos_right(d.candidate)],
            }
            for d in draws
        ]  # fmt: skip
        args.out.write_text(
            json.dumps({"recipes": names, "draws": rows, "summary": result}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
