"""A category prior on grey frames: the grey correction's bias moved so a night/IR frame's labels
are weighed by category, not by how many labels a category has.

    .venv/bin/python -m train.grey_prior --model models/binwatch.onnx --alpha 0.5 \\
        --version lite0-waste-X --out runs/prior.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv

The model draws each of its item labels equally in training, so it weighs a category by its
labels: seven recyclable labels against one kitchen label. On grey frames, where colour no longer
tells food from paper, that weight decides many answers. This step adds to every item label's
logit on grey frames -alpha × (ln(labels of its category) − their mean over the item labels),
i.e. multiplies its probability by (labels of its category) ^ −alpha up to a common factor
(`bench.readings`' "prior alpha", applied where the graph takes the frame for grey). The shifts
average to zero over the item labels and `background`'s logit is left as it was, so the item
labels together keep about their weight against "no item". Colour frames read exactly as
before; the file's graph, metadata schema and readers are unchanged (train.grey_head's
correction holds the shift in its bias, and `binwatch retrain` carries that correction into its
candidates at their temperature). A later `train.grey_head` fits the correction anew, without
the prior: run this step after it. The verdict thresholds are the source's: choose them again
with `train.thresholds_cli`, which reads the night view through the file.

Measured against lite0-waste-2.12 and not shipped (models/README.md, "A category prior on grey
frames").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import onnx

from train.grey_head import (
    GreyDelta,
    add_grey_head,
    read_grey_head,
    save_step,
    step_parser,
)
from vision.errors import ModelError
from vision.metadata import BACKGROUND, parse_metadata
from vision.taxonomy import Profile, load_profile

log = logging.getLogger(__name__)


def category_prior(categories: Sequence[object], alpha: float) -> np.ndarray:
    """Per item label, given each one's category: -alpha × (ln(labels of its category) − their
    mean over the labels), the log of the weight (labels of its category) ^ −alpha with the
    mean taken out (`bench.readings` weighs saved readings with it too)."""
    if alpha < 0:
        raise ValueError(f"alpha is 0 or more, not {alpha}")
    if not len(categories):
        raise ValueError("the model has no item labels")
    logs = np.log([list(categories).count(c) for c in categories])
    return np.asarray(-alpha * (logs - logs.mean()))


def prior_shift(labels: tuple[str, ...], profile: Profile, alpha: float) -> np.ndarray:
    """Per output: `category_prior` of the item labels under `profile`; 0 for `background`."""
    items = [label for label in labels if label != BACKGROUND]
    shift = dict(zip(items, category_prior([profile.category_of(x) for x in items], alpha),
                     strict=True))  # fmt: skip
    return np.array([shift.get(label, 0.0) for label in labels], np.float32)


def with_grey_prior(model: onnx.ModelProto, shift: np.ndarray) -> onnx.ModelProto:
    """A copy whose grey correction's bias is moved by `shift` (one value per output)."""
    delta = read_grey_head(model)
    if delta is None:
        raise ModelError("the model has no grey correction to hold a prior (train.grey_head)")
    if delta.bias.shape != shift.shape:
        raise ModelError(f"{delta.bias.shape[0]} outputs, a shift of {shift.shape[0]}")
    moved = np.asarray(delta.bias + shift, np.float32)
    return add_grey_head(model, GreyDelta(delta.weight, moved, delta.threshold))


def main() -> None:
    parser = step_parser(__doc__, "a binwatch .onnx file with a grey correction")
    parser.add_argument(
        "--alpha", type=float, required=True,
        help="0: no prior; 1: each category weighed the same on grey frames",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.monotonic()
    loaded = onnx.load(str(args.model))
    meta = parse_metadata({p.key: p.value for p in loaded.metadata_props}, str(args.model))
    shift = prior_shift(meta.labels, load_profile(meta.profile), args.alpha)
    out = with_grey_prior(loaded, shift)
    entry = {"from": meta.model_version, "alpha": args.alpha,
             "shift": {label: round(float(s), 4) for label, s in zip(meta.labels, shift,
                                                                     strict=True)}}  # fmt: skip
    save_step(out, meta, args.version, "grey_prior", entry, args.manifest, args.out)
    log.info("wrote %s (%s) in %.0f s", args.out, args.version, time.monotonic() - started)


if __name__ == "__main__":
    main()
