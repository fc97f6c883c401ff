"""Static int8 forms of the shipped network against the shipped file: accuracy and one-crop speed.

    .venv/bin/python -m bench.quantize \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv \\
        [--float FLOAT.onnx] [--save DIR] [--runs 3] [VARIANT ...]

The float graph (by default the shipped file's own weights as float32, `train.graph.float_weights`;
or `--float`, e.g. `binwatch export`'s float-raw.onnx, its padding folded first) is quantized by
ONNX Runtime (`train.quantize.quantize_static_int8`: QDQ, per-channel int8 weights, uint8
activations; what follows the head's features stays float) with
each variant's calibration, given the shipped file's metadata with `quantization: int8-static`,
and scored on the pooled test splits through the shared classifier. Then, `--runs` times in one
process, one crop on one thread is timed for the shipped file, the float graph and every variant
(median over 8 passes of 12 test photos, preprocessing included); each row reports the median of
the runs and their range, and its ratio to the shipped file within each run.

Until 2026-12-05 the variants carried the shipped file's `quantization: int8-weights`, which makes
the classifier dequantize QDQ pairs once at load (`session.disable_quant_qdq`): the static files
were timed as float convolutions wrapped in quantize/dequantize, never with the int8 kernels.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod

from bench.timing import cpu
from train.augment import field_view_augmenter, night_check
from train.evaluate import predict, score
from train.graph import float_weights, fold_pads
from train.manifest import Sample, load_manifests
from train.quantize import calibration_photos, quantize_static_int8
from vision.classifier import Classifier, ClassifierOptions
from vision.imageio import read_image
from vision.metadata import ModelMetadata, embed_metadata
from vision.preprocess import Image
from vision.shipped import shipped_model_path

# name: calibration method, calibration set ("train" or "field"), keep depthwise float, options
VARIANTS: dict[str, tuple[Any, str, bool, dict[str, Any]]] = {
    "minmax-train": (CalibrationMethod.MinMax, "train", False, {}),
    "minmax-field": (CalibrationMethod.MinMax, "field", False, {}),
    "pct-field": (CalibrationMethod.Percentile, "field", False, {"CalibPercentile": 99.99}),
    "pct-field-dw": (CalibrationMethod.Percentile, "field", True, {"CalibPercentile": 99.99}),
    "entropy-field": (CalibrationMethod.Entropy, "field", False, {}),
}


def static_metadata(shipped: ModelMetadata) -> ModelMetadata:
    """The shipped file's metadata for a static int8 form of it: `int8-static`, so the classifier
    runs the int8 kernels instead of dequantizing every QDQ pair at load."""
    return shipped.model_copy(update={"quantization": "int8-static"})


def one_crop_ms(path: Path, photos: Sequence[Image]) -> float:
    classifier = Classifier(path, ClassifierOptions(threads=1))
    for image in photos:
        classifier.classify([image])
    times = []
    for _ in range(8):
        for image in photos:
            start = time.perf_counter()
            classifier.classify([image])
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def timings(files: dict[str, Path], photos: Sequence[Image], runs: int) -> list[dict[str, Any]]:
    """Every file timed in each of `runs` rounds, in turn; the ratio to the first (the shipped
    file) taken within each round."""
    rounds = [{name: one_crop_ms(path, photos) for name, path in files.items()}
              for _ in range(runs)]  # fmt: skip
    first = next(iter(files))
    rows = []
    for name in files:
        ms = [r[name] for r in rounds]
        ratio = [r[first] / r[name] for r in rounds]
        rows.append({"form": name, "one_crop_ms": statistics.median(ms),
                     "range_ms": [min(ms), max(ms)], "speedup_vs_shipped": statistics.median(ratio),
                     "speedup_range": [min(ratio), max(ratio)]})  # fmt: skip
    return rows


def calibration_sets(data: Any) -> dict[str, list[Sample | Image]]:
    val, train = data.split("val"), data.split("train")
    rng = np.random.default_rng(0)
    plain = [read_image(val[i].path) for i in rng.choice(len(val), 160, replace=False)]
    augment = field_view_augmenter(3)
    night, placed = [night_check(im) for im in plain[:80]], [augment(im) for im in plain[80:]]
    return {
        "field": [*plain, *night, *placed],
        "train": list(calibration_photos(train, [], 20)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--float",
        dest="float_path",
        type=Path,
        help="float32 ONNX (default: the shipped file's weights as float32)",
    )
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--model", type=Path, default=shipped_model_path())
    parser.add_argument("--save", type=Path, help="keep each variant's file in this folder")
    parser.add_argument("--runs", type=int, default=3, help="timing rounds; median and range")
    parser.add_argument("--out", type=Path, default=Path("bench/results/quantize.json"))
    parser.add_argument("variants", nargs="*", default=["minmax-train", "minmax-field",
                        "pct-field"], choices=list(VARIANTS))  # fmt: skip
    args = parser.parse_args()
    data = load_manifests(args.manifest)
    test = data.split("test")
    shipped = Classifier(args.model)
    spec = shipped.metadata.preprocess
    calibration = calibration_sets(data)
    photos = [read_image(s.path) for s in test[::97][:12]]
    scores: dict[str, dict[str, float]] = {}

    def scored(name: str, classifier: Classifier) -> None:
        category = score(classifier, test, predict(classifier, test))["category"]
        scores[name] = {"category_accuracy": category["accuracy"],
                        "category_macro_recall": category["macro_recall"]}  # fmt: skip
        print(f"{name}: category accuracy {100 * category['accuracy']:.2f} %, macro recall "
              f"{100 * category['macro_recall']:.2f} %", flush=True)  # fmt: skip

    scored("shipped", shipped)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.save or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        source = onnx.load(str(args.float_path or args.model))
        folded = folder / "float.onnx"
        floated = fold_pads(source if args.float_path else float_weights(source))[0]
        embed_metadata(floated, shipped.metadata.model_copy(update={"quantization": "none"}))
        onnx.save(floated, str(folded))
        files = {"shipped": args.model, "float": folded}
        depthwise = [n.name for n in floated.graph.node if n.op_type == "Conv"
                     and any(a.name == "group" and a.i > 1 for a in n.attribute)]  # fmt: skip
        for name in args.variants:
            method, images, float_dw, extra = VARIANTS[name]
            raw = Path(tmp) / f"{name}-raw.onnx"
            quantize_static_int8(folded, raw, calibration[images], spec, method,
                                 keep_float=depthwise if float_dw else [], extra=extra)  # fmt: skip
            model = onnx.load(str(raw))
            embed_metadata(model, static_metadata(shipped.metadata))
            path = folder / f"{name}.onnx"
            onnx.save(model, str(path))
            files[name] = path
            scored(name, Classifier(path))
        rows = timings(files, photos, args.runs)
    for row in rows:
        low, high = row["range_ms"]
        print(f"{row['form']:<14} {row['one_crop_ms']:6.2f} ms ({low:.2f}–{high:.2f}), "
              f"{row['speedup_vs_shipped']:.2f}× the shipped file", flush=True)  # fmt: skip
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu(),
        "model": str(args.model), "float": str(args.float_path or "the shipped weights"),
        "runs": args.runs, "scores": scores, "timing": rows,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
