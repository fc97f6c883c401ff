"""Static int8 forms of the shipped network against the shipped file: accuracy and one-crop speed.

    .venv/bin/python -m bench.quantize --float runs/lite0-v2/float-raw.onnx \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv [VARIANT ...]

The float graph (`binwatch export`'s float-raw.onnx; its padding folded first, as the export now
does) is quantized by ONNX Runtime (QDQ, per-channel int8 weights, uint8 activations) with each
variant's calibration, given the shipped file's metadata, and scored on the pooled test splits
through the shared classifier; one crop on one thread is timed for it and for the shipped file in
the same process (median over 8 passes of 12 test photos, preprocessing included).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from train.augment import field_view_augmenter, night_check
from train.evaluate import predict, score
from train.graph import fold_pads
from train.manifest import load_manifests
from vision.classifier import Classifier, ClassifierOptions
from vision.imageio import read_image
from vision.metadata import PreprocessSpec
from vision.preprocess import Image, preprocess
from vision.shipped import shipped_model_path


class _Reader(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, images: Sequence[Image], spec: PreprocessSpec):
        self._batches = [images[i : i + 16] for i in range(0, len(images), 16)]
        self._spec = spec

    def get_next(self) -> dict[str, np.ndarray] | None:
        if not self._batches:
            return None
        return {"image": preprocess(self._batches.pop(0), self._spec, "bgr")}


# name: calibration method, calibration set ("train" or "field"), keep depthwise float, options
VARIANTS: dict[str, tuple[Any, str, bool, dict[str, Any]]] = {
    "minmax-train": (CalibrationMethod.MinMax, "train", False, {}),
    "minmax-field": (CalibrationMethod.MinMax, "field", False, {}),
    "pct-field": (CalibrationMethod.Percentile, "field", False, {"CalibPercentile": 99.99}),
    "pct-field-dw": (CalibrationMethod.Percentile, "field", True, {"CalibPercentile": 99.99}),
    "entropy-field": (CalibrationMethod.Entropy, "field", False, {}),
}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--float", dest="float_path", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, action="append", required=True)
    parser.add_argument("--model", type=Path, default=shipped_model_path())
    parser.add_argument("variants", nargs="*", default=["minmax-train", "minmax-field",
                        "pct-field"], choices=list(VARIANTS))  # fmt: skip
    args = parser.parse_args()
    data = load_manifests(args.manifest)
    test, val, train = data.split("test"), data.split("val"), data.split("train")
    shipped = Classifier(args.model)
    spec = shipped.metadata.preprocess
    rng = np.random.default_rng(0)
    plain = [read_image(val[i].path) for i in rng.choice(len(val), 160, replace=False)]
    augment = field_view_augmenter(3)
    night, placed = [night_check(im) for im in plain[:80]], [augment(im) for im in plain[80:]]
    calibration = {
        "field": plain + night + placed,
        "train": [read_image(s.path) for label in sorted({s.label for s in train})
                  for s in [x for x in train if x.label == label][:20]],
    }  # fmt: skip
    photos = [read_image(s.path) for s in test[::97][:12]]
    scored = score(shipped, test, predict(shipped, test))
    print(f"{shipped.metadata.model_version} (shipped): category accuracy "
          f"{100 * scored['category']['accuracy']:.2f} %, one crop "
          f"{one_crop_ms(args.model, photos):.2f} ms", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        onnx.save(fold_pads(onnx.load(str(args.float_path)))[0], str(folded))
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(folded), str(prepared))
        graph = onnx.load(str(prepared)).graph
        depthwise = [n.name for n in graph.node if n.op_type == "Conv"
                     and any(a.name == "group" and a.i > 1 for a in n.attribute)]  # fmt: skip
        for name in args.variants:
            method, images, float_dw, extra = VARIANTS[name]
            raw = Path(tmp) / f"{name}-raw.onnx"
            quantize_static(str(prepared), str(raw), _Reader(calibration[images], spec),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=method, extra_options=extra,
                            nodes_to_exclude=depthwise if float_dw else [])  # fmt: skip
            model = onnx.load(str(raw))
            del model.metadata_props[:]
            model.metadata_props.extend(onnx.load(str(args.model)).metadata_props)
            path = Path(tmp) / f"{name}.onnx"
            onnx.save(model, str(path))
            classifier = Classifier(path)
            result = score(classifier, test, predict(classifier, test))
            print(f"{name}: category accuracy {100 * result['category']['accuracy']:.2f} %, one "
                  f"crop {one_crop_ms(path, photos):.2f} ms (shipped in the same process "
                  f"{one_crop_ms(args.model, photos):.2f} ms)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
