"""How often `binwatch retrain`'s gate refuses a candidate on noise: the same reviewed photos,
the hold-out drawn again and again, at each `--limit` (base photos per split).

    .venv/bin/python -m bench.gatenoise --from artifacts/loop/reviewed.zip \\
        --manifest ../shared/datasets/waste-v1/manifest.csv --limit 150 400 --draws 24 \\
        --out bench/results/gate-noise.json

The hold-out is drawn from each event's id (train.retrain.held_back); a draw here renames every
event (`draw{n}-{id}`, photos of one event stay together) so the retrain holds back another ~share
of them, with the options `tests/test_loop.py` uses (the head alone; it asks for
`--static-candidate 0`, this bench's default is retrain's). It reports per limit the
share of draws refused and why, the largest base test drop and the smallest field loss gain:
what a gate of 1 point can tell apart on a base test split of that size.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from train.feature_cache import default_folder
from train.retrain import RetrainOptions, retrain

log = logging.getLogger(__name__)


def renamed(manifest: Path, draw: int) -> Path:
    """A copy of the reviewed manifest beside it with every event renamed for draw `draw`."""
    target = manifest.with_name(f"manifest-draw{draw}.csv")
    with manifest.open(newline="") as src, target.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=list(reader.fieldnames or []))
        writer.writeheader()
        for row in reader:
            writer.writerow(row | {"group": f"draw{draw}-{row['group']}"})
    return target


def one_draw(
    args: argparse.Namespace, field: Path, work: Path, limit: int, draw: int
) -> dict[str, Any]:
    options = RetrainOptions(
        field_holdout=args.field_holdout,
        tune_blocks=0,
        base_views=args.base_views,
        close_ups=0 if args.no_close_ups else RetrainOptions.close_ups,
        static_candidate=args.static_candidate,
        head_distill=args.head_distill,
    )
    out = work / f"limit{limit}-draw{draw}"
    out.mkdir()
    report = retrain(args.model, args.manifest, renamed(field, draw), out, options, "noise",
                     limit, default_folder())  # fmt: skip
    active, candidate = report["active"], report["candidate"]
    return {
        "limit": limit, "draw": draw, "base_test_images": candidate["base_test"]["images"],
        "reviewed": report["field"]["reviewed_images"], "held_back": report["field"]["held_back"],
        "base_accuracy_drop": active["base_test"]["category_accuracy"]
        - candidate["base_test"]["category_accuracy"],
        "field_loss_gain": active["field_holdout"]["log_loss"]
        - candidate["field_holdout"]["log_loss"],
        "passed": report["decision"]["passed"], "reasons": report["decision"]["reasons"],
        "base_test_changes": report.get("base_test_changes", []),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="reviewed.zip")
    parser.add_argument("--manifest", type=Path, action="append", required=True, help="base")
    parser.add_argument("--model", type=Path, default=Path("models/binwatch.onnx"))
    parser.add_argument("--limit", type=int, nargs="+", default=[150, 400])
    parser.add_argument("--draws", type=int, default=24)
    parser.add_argument("--field-holdout", type=float, default=0.4)
    parser.add_argument(
        "--base-views",
        type=int,
        default=RetrainOptions.base_views,
        help="as binwatch retrain's (1: base train photos as they are only)",
    )
    parser.add_argument("--no-close-ups", action="store_true",
                        help="as binwatch retrain's: reviewed crops as they are only")  # fmt: skip
    parser.add_argument("--static-candidate", type=int, default=RetrainOptions.static_candidate,
                        help="as binwatch retrain's, for a static int8 model (2: in its own "
                        "graph; 0: the int8-weights form of its float graph; -1: its default, "
                        "2)")  # fmt: skip
    parser.add_argument("--head-distill", type=float, default=RetrainOptions.head_distill,
                        help="as binwatch retrain's: the base rows also keep the active "
                        "head's softened answers, this much")  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with zipfile.ZipFile(args.source) as zipped:
            zipped.extractall(work / "field")
        for limit in args.limit:
            for draw in range(args.draws):
                rows.append(one_draw(args, work / "field" / "manifest.csv", work, limit, draw))
                r = rows[-1]
                print(f"limit {limit} draw {draw}: base drop {100 * r['base_accuracy_drop']:.2f} "
                      f"points of {r['base_test_images']}, field loss gain "
                      f"{r['field_loss_gain']:.3f}: {'passed' if r['passed'] else r['reasons']}",
                      flush=True)  # fmt: skip
    summary = []
    for limit in args.limit:
        mine = [r for r in rows if r["limit"] == limit]
        summary.append({
            "limit": limit, "draws": len(mine), "refused": sum(not r["passed"] for r in mine),
            "base_test_images": mine[0]["base_test_images"], "reviewed": mine[0]["reviewed"],
            "largest_base_drop": max(r["base_accuracy_drop"] for r in mine),
            "median_base_drop": statistics.median(r["base_accuracy_drop"] for r in mine),
            "smallest_field_loss_gain": min(r["field_loss_gain"] for r in mine),
        })  # fmt: skip
        s = summary[-1]
        print(f"limit {limit} ({s['base_test_images']} base test photos): refused {s['refused']} "
              f"of {s['draws']}, largest base drop {100 * s['largest_base_drop']:.2f} points, "
              f"smallest field loss gain {s['smallest_field_loss_gain']:.3f}")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"source": str(args.source), "model": str(args.model),
                                        "base_views": args.base_views,
                                        "static_candidate": args.static_candidate,
                                        "head_distill": args.head_distill,
                                        "close_ups": not args.no_close_ups, "summary": summary,
                                        "draws": rows}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
