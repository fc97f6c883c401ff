"""The static int8 form of a binwatch file, its test numbers measured again:

    .venv/bin/python -m train.static_cli --model lite0-waste-2.9.onnx \\
        --out models/binwatch.onnx --version lite0-waste-2.10 \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv

The same weights (the source's float graph, `train.quantize.float_view`), quantized statically
(QDQ: per-channel int8 weights, uint8 activations, min-max on 20 training photos a label with
the "no item" crops made as training makes them, `train.quantize.calibration_photos`, and night
and placed views of them, `train.quantize.field_calibration`); what follows the head's
features stays float. Thresholds and the rest of the metadata are the source's; the
test metrics are measured again on the new file (`train.grey_head.save_scored`). About a minute
on this CPU, and ONNX Runtime then runs a crop 1.4-1.7 times as fast (models/README.md,
lite0-waste-2.10).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import onnx

from train.background import make_backgrounds
from train.grey_head import save_step, step_parser
from train.manifest import load_manifests
from train.quantize import calibration_photos, field_calibration, static_form
from vision.classifier import Classifier

log = logging.getLogger(__name__)


def main() -> None:
    parser = step_parser(__doc__)
    parser.add_argument("--per-label", type=int, default=20, help="calibration photos a label")
    parser.add_argument("--weight-bits", type=int, choices=(7, 8), default=8,
                        help="7: every weight within ±64 (tried for CPUs without VNNI, and lost "
                        "1.25 points: models/README.md, Speed)")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    source = Classifier(args.model).metadata
    dataset = load_manifests(args.manifest)
    with tempfile.TemporaryDirectory() as tmp:
        train = dataset.split("train")
        made = make_backgrounds(dataset.samples, "train", Path(tmp) / "background", 0)
        calibration = field_calibration(calibration_photos([*train, *made], [], args.per_label))
        log.info("calibrating on %d photos", len(calibration))
        static = Path(tmp) / "static.onnx"
        static_form(onnx.load(str(args.model)), static, calibration, source, args.weight_bits)
        model = onnx.load(str(static))
    entry = {
        "from": source.model_version, "calibration_photos": len(calibration),
        "per_label": args.per_label, "method": "minmax", "weight_bits": args.weight_bits,
        "seconds": round(time.monotonic() - started),
    }  # fmt: skip
    save_step(model, source, args.version, "static_int8", entry, args.manifest, args.out,
              quantization="int8-static")  # fmt: skip
    log.info("wrote %s (%s, %.2f MB) in %.0f s", args.out, args.version,
             args.out.stat().st_size / 1e6, time.monotonic() - started)  # fmt: skip


if __name__ == "__main__":
    main()
