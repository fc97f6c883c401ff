"""A binwatch file's verdict thresholds chosen again, at a stated contamination rate:

    .venv/bin/python -m train.thresholds_cli --model lite0-waste-2.11.onnx \\
        --out models/binwatch.onnx --version lite0-waste-2.12 --contamination-rate 0.1 \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv

The weights are the source's. `correct` and `contaminated` are chosen as `binwatch export` and
`binwatch retrain` choose them (`train.thresholds.choose_thresholds`): on the base val photos
as they are, as a night/IR camera sees them and placed on drawn floors (`train.views.VIEWS`,
read through the file itself), with the flags' precision counted where `--contamination-rate`
of drops are wrong, and the categories of `--lower-flags` given a flag threshold of their own
where every view allows it (`train.thresholds.lower_flag_thresholds`); any other per-category
or outside-total threshold of the source is dropped. The `background` threshold
and the rest of the metadata are the source's; the test metrics are measured again on the new
file (`train.grey_head.save_step`). Prints what the old and the new thresholds do on those
views. Under a minute on this CPU.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import onnx

from train.evaluate import category_probs, predict
from train.grey_head import save_step, step_parser
from train.manifest import load_manifests
from train.thresholds import (
    CONTAMINATION_RATE,
    LOWER_FLAGS_HELP,
    choose_thresholds,
    lowered_categories,
    threshold_effect,
)
from train.views import VIEWS
from vision.classifier import Classifier
from vision.metadata import Thresholds
from vision.taxonomy import Category

log = logging.getLogger(__name__)


def val_views(classifier: Classifier, manifests: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Category probabilities (as verdicts read them) of the base val photos' items in every
    view of `VIEWS`, stacked, and each row's true category."""
    cats = list(Category)
    val = [s for s in load_manifests(manifests).split("val") if s.category is not None]
    probs = [
        category_probs(predict(classifier, val, transform=view), classifier.labels,
                       classifier.profile)
        for view in VIEWS.values()
    ]  # fmt: skip
    truth = np.tile([cats.index(s.category) for s in val if s.category is not None], len(probs))
    return np.concatenate(probs), truth


def describe(name: str, thresholds: Thresholds, effect: dict[str, float], rate: float) -> str:
    own = "".join(f", {c.value} {t:g}" for c, t in thresholds.contaminated_by_category.items())
    return (
        f"{name}: correct {thresholds.correct:g}, contaminated {thresholds.contaminated:g}{own}: "
        f"right drops flagged {100 * effect['right_flagged']:.2f} %, uncertain "
        f"{100 * effect['right_uncertain']:.1f} %; wrong drops flagged "
        f"{100 * effect['wrong_flagged']:.1f} %, uncertain {100 * effect['wrong_uncertain']:.1f} "
        f"%, called correct {100 * effect['wrong_called_correct']:.2f} %; flag precision where "
        f"{100 * rate:g} % of drops are wrong {100 * effect['flag_precision_at_rate']:.1f} %"
    )


def main() -> None:
    parser = step_parser(__doc__)
    parser.add_argument(
        "--contamination-rate",
        type=float,
        default=CONTAMINATION_RATE,
        help="the share of drops that are wrong, at which flags must reach --flag-precision "
        "(a station's measured rate, or the lowest an office expects)",
    )
    parser.add_argument(
        "--lower-flags", type=lowered_categories, default="hazardous", help=LOWER_FLAGS_HELP
    )
    parser.add_argument("--flag-precision", type=float, default=0.97)
    parser.add_argument("--correct-precision", type=float, default=0.98)
    args = parser.parse_args()
    if not 0 < args.contamination_rate < 1:
        parser.error(f"--contamination-rate is a share of drops, not {args.contamination_rate}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    classifier = Classifier(args.model)
    source = classifier.metadata
    cat, truth = val_views(classifier, args.manifest)
    chosen = choose_thresholds(cat, truth, args.flag_precision, args.correct_precision,
                               args.contamination_rate, args.lower_flags, len(VIEWS))  # fmt: skip
    rate = args.contamination_rate
    before = source.thresholds
    after = before.model_copy(update={
        "correct": chosen.correct, "contaminated": chosen.contaminated,
        "contaminated_by_category": chosen.contaminated_by_category,
        "contaminated_outside": None,
    })  # fmt: skip
    for name, t in (("before", before), ("after", after)):
        log.info("%s", describe(name, t, threshold_effect(cat, truth, t, rate), rate))
    entry = {
        "from": source.model_version, "contamination_rate": rate,
        "flag_precision": args.flag_precision, "correct_precision": args.correct_precision,
        "lowered": [c.value for c in args.lower_flags],
        "val_rows": len(truth), "seconds": round(time.monotonic() - started),
    }  # fmt: skip
    save_step(onnx.load(str(args.model)), source, args.version, "thresholds", entry,
              args.manifest, args.out, thresholds=after)  # fmt: skip
    log.info("wrote %s (%s) in %.0f s", args.out, args.version, time.monotonic() - started)


if __name__ == "__main__":
    main()
