"""Inference speed of the shipped model: binwatch's classifier (ONNX Runtime) against the same
network in torch eager and in OpenCV's DNN module, one crop and batches of 8, 1 and 2 threads.

    .venv/bin/python bench/inference.py --checkpoint runs/lite0-v1/checkpoint.pt \
        --float runs/lite0-v1/float.onnx --out bench/results/inference.json

Each row times preprocessing (vision.preprocess, the same for all) plus the forward pass on
real photos from ../shared/datasets; it prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from train.export import load_network
from vision.classifier import Classifier, ClassifierOptions
from vision.imageio import read_image
from vision.preprocess import preprocess
from vision.shipped import shipped_model_path

DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/waste-v1"


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times)) - 1]}


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
    if dnn is not None:
        runtimes["opencv dnn (float32)"] = opencv_dnn
    return runtimes


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=shipped_model_path(), help="shipped ONNX")
    parser.add_argument("--float", type=Path, required=True, help="float32 ONNX (for OpenCV DNN)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint (for torch)")
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("bench/results/inference.json"))
    args = parser.parse_args()
    if args.model is None:
        raise SystemExit("no shipped model: pass --model")

    paths = sorted((DATA / "images").glob("*/*.jpg"))[::500][:8]
    if len(paths) < 8:
        raise SystemExit(f"need real photos in {DATA} (../shared/datasets)")
    crops = [read_image(p) for p in paths]
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    network = load_network(checkpoint)
    rows: list[dict[str, Any]] = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        classifier = Classifier(args.model, ClassifierOptions(threads=threads, batch_size=8))
        try:
            dnn = cv2.dnn.readNetFromONNX(str(args.float))
        except cv2.error as exc:  # this OpenCV cannot read the export (e.g. Clip with inputs)
            print(f"OpenCV DNN left out: {str(exc).strip().splitlines()[0]}")
            dnn = None
        for batch in (1, 8):
            for name, fn in peers(classifier, network, dnn, crops[:batch]).items():
                result = timed(fn, args.repeats)
                per_crop = result["median_ms"] / batch
                rows.append(
                    {"runtime": name, "threads": threads, "batch": batch, **result,
                     "per_crop_ms": per_crop}
                )  # fmt: skip
    ours = {(r["threads"], r["batch"]): r for r in rows if r["runtime"].startswith("binwatch")}
    for r in rows:
        r["ratio_vs_binwatch"] = r["median_ms"] / ours[(r["threads"], r["batch"])]["median_ms"]
    header = ("runtime", "threads", "batch", "median ms", "p90 ms", "ms/crop", "× binwatch")
    line = "{:<42} {:>7} {:>5} {:>10} {:>8} {:>8} {:>10}"
    print(line.format(*header))
    for r in rows:
        print(line.format(r["runtime"], r["threads"], r["batch"], f"{r['median_ms']:.2f}",
                          f"{r['p90_ms']:.2f}", f"{r['per_crop_ms']:.2f}",
                          f"{r['ratio_vs_binwatch']:.2f}"))  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"machine": platform.platform(), "model": str(args.model), "rows": rows}
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
