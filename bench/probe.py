"""The peer to beat: a logistic-regression probe on frozen ImageNet EfficientNet-Lite0 features,
trained on the same train split, scored in the same run as the shipped model on the test split.

    .venv/bin/python bench/probe.py --out bench/results/probe.json

Features: the pooled 1280-d output of the ImageNet network (ONNX Runtime, the same
vision.preprocess at the shipped model's input size). The probe: multinomial logistic
regression (L2, full-batch L-BFGS), its strength chosen on the validation split.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from train.builders import build
from train.evaluate import predict, split_outputs
from train.manifest import Sample, load_manifests
from train.metrics import summary
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.metadata import PreprocessSpec
from vision.preprocess import preprocess
from vision.shipped import shipped_model_path
from vision.taxonomy import Category, load_profile

MANIFEST = Path(__file__).resolve().parents[1].parent / "shared/datasets/waste-v1/manifest.csv"


def features(
    session: ort.InferenceSession, samples: list[Sample], spec: PreprocessSpec
) -> np.ndarray:
    out = []
    for start in tqdm(range(0, len(samples), 32), desc="features", leave=False):
        images = [read_image(s.path) for s in samples[start : start + 32]]
        out.append(session.run(None, {"image": preprocess(images, spec)})[0])
    return np.concatenate(out)


def fit_probe(
    x: np.ndarray, y: np.ndarray, classes: int, l2: float, weights: np.ndarray | None = None
) -> torch.nn.Linear:
    """Multinomial logistic regression, L2 on the weights; `weights` per row (a weighted mean of
    the loss; None: each row the same)."""
    probe = torch.nn.Linear(x.shape[1], classes)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y)
    wt = torch.ones(len(y)) if weights is None else torch.from_numpy(weights).float()
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        fit = (torch.nn.functional.cross_entropy(probe(xt), yt, reduction="none") * wt).sum()
        loss = fit / wt.sum() + l2 * probe.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return probe


def category_scores(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict[str, Any]:
    national = load_profile("national")
    to_cat = np.array([list(Category).index(national.category_of(lb)) for lb in labels])
    cats = summary(to_cat[truth], to_cat[predicted], [c.value for c in Category])
    fine = summary(truth, predicted, labels)
    return {"category_accuracy": cats["accuracy"], "category_macro_recall": cats["macro_recall"],
            "fine_accuracy": fine["accuracy"], "fine_macro_recall": fine["macro_recall"],
            "category_recall": {k: v["recall"] for k, v in cats["per_class"].items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=shipped_model_path())
    parser.add_argument("--out", type=Path, default=Path("bench/results/probe.json"))
    parser.add_argument(
        "--manifest", type=Path, action="append", help="dataset manifests (default: waste-v1)"
    )
    args = parser.parse_args()
    classifier = Classifier(args.model)
    labels = list(classifier.metadata.item_labels)
    spec = classifier.metadata.preprocess
    dataset = load_manifests(args.manifest or [MANIFEST])
    splits = {name: dataset.split(name) for name in ("train", "val", "test")}
    index = {label: i for i, label in enumerate(labels)}
    ys = {k: np.array([index[s.label] for s in v]) for k, v in splits.items()}

    backbone = build("efficientnet_lite0", 0).model.eval()  # classifier removed: pooled features
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.onnx"
        torch.onnx.export(backbone, (torch.zeros(1, 3, *spec.input_size),), str(path),
                          input_names=["image"], output_names=["features"],
                          dynamic_axes={"image": {0: "batch"}},
                          opset_version=17, dynamo=False)  # fmt: skip
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        xs = {k: features(session, v, spec) for k, v in splits.items()}
    mean, std = xs["train"].mean(axis=0), xs["train"].std(axis=0) + 1e-6
    xs = {k: (v - mean) / std for k, v in xs.items()}
    best = None
    for l2 in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2):
        probe = fit_probe(xs["train"], ys["train"], len(labels), l2)
        with torch.no_grad():
            val_pred = probe(torch.from_numpy(xs["val"]).float()).argmax(1).numpy()
        recall = category_scores(ys["val"], val_pred, labels)["category_macro_recall"]
        if best is None or recall > best[0]:
            best = (recall, l2, probe)
    assert best is not None
    with torch.no_grad():
        test_pred = best[2](torch.from_numpy(xs["test"]).float()).argmax(1).numpy()
    probe_scores = category_scores(ys["test"], test_pred, labels)
    items, _ = split_outputs(predict(classifier, splits["test"]), list(classifier.labels))
    ours = category_scores(ys["test"], items.argmax(1), labels)
    rows = {
        f"probe (frozen ImageNet features, l2={best[1]:g})": probe_scores,
        f"binwatch {classifier.metadata.model_version}": ours,
    }
    line = "{:<48} {:>8} {:>8} {:>8} {:>8}  {}"
    print(line.format("model", "cat acc", "cat mR", "fine acc", "fine mR", "recall per category"))
    for name, r in rows.items():
        per = " ".join(f"{k[:4]}={100 * v:.1f}" for k, v in r["category_recall"].items())
        cells = (r["category_accuracy"], r["category_macro_recall"], r["fine_accuracy"],
                 r["fine_macro_recall"])  # fmt: skip
        print(line.format(name, *(f"{100 * v:.2f}%" for v in cells), per))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"split": "test", "images": len(splits["test"]), "rows": rows}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
