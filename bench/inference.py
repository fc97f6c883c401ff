"""Inference speed of the shipped model: binwatch's classifier (ONNX Runtime) against the same
network in torch eager and in OpenCV's DNN module, one crop and batches of 8, 1 and 2 threads.

    .venv/bin/python -m bench.inference [--checkpoint runs/lite0-v22/checkpoint.pt] \
        [--float runs/lite0-v22/float-raw.onnx] --runs 3 --out bench/results/inference.json

A static int8 file is also timed on ONNX Runtime's other int8 kernels and as its float graph
(train.quantize.float_view), the ways a host whose exact int8 kernels are slow could run it.
Each row times preprocessing (vision.preprocess, the same for all) plus the forward pass on
real photos from ../shared/datasets; it runs the whole
set `--runs` times and prints and writes each row's median and range, the ratio to binwatch taken
within each run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch

from bench.timing import cpu, percentile
from train.builders import build
from train.export import load_network
from train.quantize import float_view
from vision.classifier import Classifier, ClassifierOptions, session_options
from vision.imageio import read_image
from vision.int8_kernels import PRECISE_KERNELS, default_int8_exact
from vision.preprocess import preprocess
from vision.shipped import shipped_model_path

SATURATING = "onnxruntime u8s8 kernels (saturating without VNNI)"
U8U8 = "onnxruntime u8u8 kernels (session.x64quantprecision)"
FLOAT_VIEW = "onnxruntime float view (the static file's float graph)"
DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/waste-v1"


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "p90_ms": percentile(times, 0.9)}


def peers(
    classifier: Classifier, network: torch.nn.Module, dnn: Any | None, images: list[np.ndarray]
) -> dict[str, Callable[[], object]]:
    """The same crops, the same preprocessing, three runtimes."""
    spec = classifier.metadata.preprocess

    def ours() -> object:
        return classifier.classify(images)

    def torch_eager() -> object:
        with torch.no_grad():
            return network(torch.from_numpy(preprocess(images, spec)))

    def opencv_dnn() -> object:
        assert dnn is not None
        dnn.setInput(preprocess(images, spec))
        return dnn.forward()

    runtimes = {
        f"binwatch ({classifier.path.name}, onnxruntime)": ours,
        "torch eager (float32)": torch_eager,
    }
    if classifier.metadata.quantization == "int8-static":
        # the same file on ONNX Runtime's other int8 kernels: where its default (u8s8) ones
        # saturate (x86 without VNNI: vision.int8_kernels) those, which binwatch does not use,
        # so the row says what exact sums cost; elsewhere its u8u8 ones, which binwatch asked
        # for on every host for a while (what they would have cost)
        exact = default_int8_exact()
        options = session_options(classifier.options.threads, precise_int8=False)
        if exact:
            options.add_session_config_entry(PRECISE_KERNELS, "1")
        other = ort.InferenceSession(str(classifier.path), options,
                                     providers=["CPUExecutionProvider"])  # fmt: skip
        feed = other.get_inputs()[0].name

        def other_kernels() -> object:
            return other.run(None, {feed: preprocess(images, spec, "bgr")})

        runtimes[U8U8 if exact else SATURATING] = other_kernels
        # its float graph (train.quantize.float_view: the same weights, activations unrounded):
        # where the int8 kernels binwatch must use are slow (u8u8 without VNNI), is it faster?
        plain = ort.InferenceSession(
            float_view(onnx.load(str(classifier.path))).SerializeToString(),
            session_options(classifier.options.threads), providers=["CPUExecutionProvider"],
        )  # fmt: skip

        def float_graph() -> object:
            return plain.run(None, {feed: preprocess(images, spec, "bgr")})

        runtimes[FLOAT_VIEW] = float_graph
    if dnn is not None:
        runtimes["opencv dnn (float32)"] = opencv_dnn
    return runtimes


def photos() -> list[Path]:
    """Eight real photos across the categories of waste-v1 (empty where the data is absent)."""
    return sorted((DATA / "images").glob("*/*.jpg"))[::500][:8]


def torch_peer(checkpoint: Path | None, classifier: Classifier) -> torch.nn.Module:
    """The trained network from its checkpoint; without one, the same architecture with as many
    outputs (ImageNet body, fresh head): the same operations on the same shapes, so the same time
    in torch eager, for a shipped file whose training run is not at hand."""
    if checkpoint is not None:
        return load_network(torch.load(checkpoint, map_location="cpu", weights_only=False))
    metadata = classifier.metadata
    return build(metadata.architecture, len(metadata.labels), pretrained=True).model.eval()


def one_run(
    model: Path, network: torch.nn.Module, float_model: Path | None,
    crops: list[np.ndarray], repeats: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows: list[dict[str, Any]] = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        classifier = Classifier(model, ClassifierOptions(threads=threads, batch_size=8))
        dnn = None
        if float_model is not None:
            try:
                dnn = cv2.dnn.readNetFromONNX(str(float_model))
            except cv2.error as exc:  # this OpenCV cannot read the export (e.g. Clip with inputs)
                print(f"OpenCV DNN left out: {str(exc).strip().splitlines()[0]}")
        for batch in (1, 8):
            for name, fn in peers(classifier, network, dnn, crops[:batch]).items():
                result = timed(fn, repeats)
                rows.append({"runtime": name, "threads": threads, "batch": batch, **result,
                             "per_crop_ms": result["median_ms"] / batch})  # fmt: skip
    ours = {(r["threads"], r["batch"]): r for r in rows if r["runtime"].startswith("binwatch")}
    for r in rows:
        r["ratio_vs_binwatch"] = r["median_ms"] / ours[(r["threads"], r["batch"])]["median_ms"]
    return rows


def summarise(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per runtime, threads and batch: the median of the runs' medians and their range, and the
    same of the ratio to binwatch taken within each run."""
    summary = []
    for i, first in enumerate(runs[0]):
        per_crop = [run[i]["per_crop_ms"] for run in runs]
        ratio = [run[i]["ratio_vs_binwatch"] for run in runs]
        summary.append({
            "runtime": first["runtime"], "threads": first["threads"], "batch": first["batch"],
            "per_crop_ms": statistics.median(per_crop),
            "per_crop_range_ms": [min(per_crop), max(per_crop)],
            "ratio_vs_binwatch": statistics.median(ratio), "ratio_range": [min(ratio), max(ratio)],
        })  # fmt: skip
    return summary


def with_earlier(summary: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """The new result on top, every earlier one kept under `earlier`, newest first: the host
    decides the answer (AVX-512 or not), so one run on one host must not erase another's."""
    if before is None:
        return summary
    top = {k: v for k, v in before.items() if k != "earlier"}
    kept = before.get("earlier", [])
    return summary | {"earlier": [top, *(kept if isinstance(kept, list) else [kept])]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=shipped_model_path(), help="shipped ONNX")
    parser.add_argument("--float", type=Path, help="float32 ONNX (for OpenCV DNN; else left out)")
    parser.add_argument(
        "--checkpoint", type=Path, help="checkpoint (torch; else its architecture, ImageNet body)"
    )
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3, help="whole runs; median and range reported")
    parser.add_argument("--out", type=Path, default=Path("bench/results/inference.json"))
    args = parser.parse_args()
    if args.model is None:
        raise SystemExit("no shipped model: pass --model")

    paths = photos()
    if len(paths) < 8:
        raise SystemExit(f"need real photos in {DATA} (../shared/datasets)")
    crops = [read_image(p) for p in paths]
    network = torch_peer(args.checkpoint, Classifier(args.model))
    runs = [one_run(args.model, network, args.float, crops, args.repeats)
            for _ in range(args.runs)]  # fmt: skip
    rows = summarise(runs)
    header = ("runtime", "threads", "batch", "ms/crop", "(range)", "÷ binwatch", "(range)")
    line = "{:<42} {:>7} {:>5} {:>8} {:>13} {:>10} {:>11}"
    print(f"{cpu()}; median of {args.runs} runs, range in brackets")
    print(line.format(*header))
    for r in rows:
        low, high = r["per_crop_range_ms"]
        ratio_low, ratio_high = r["ratio_range"]
        print(line.format(r["runtime"], r["threads"], r["batch"], f"{r['per_crop_ms']:.2f}",
                          f"{low:.2f}–{high:.2f}", f"{r['ratio_vs_binwatch']:.2f}",
                          f"{ratio_low:.2f}–{ratio_high:.2f}"))  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.platform(), "cpu": cpu(), "model": str(args.model),
        "torch_peer": str(args.checkpoint) if args.checkpoint else "architecture, ImageNet body",
        "runs": args.runs, "repeats": args.repeats, "rows": rows, "each_run": runs,
    }  # fmt: skip
    before = json.loads(args.out.read_text()) if args.out.is_file() else None
    args.out.write_text(json.dumps(with_earlier(summary, before), indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
