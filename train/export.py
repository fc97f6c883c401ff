"""`binwatch export`: a checkpoint becomes a self-describing ONNX model, checked.

The temperature fitted on the validation split is folded into the classifier, thresholds are
chosen on the validation split, the metadata (labels, profile, preprocessing, thresholds,
dataset hashes, git commit, recipe, metrics) is embedded; then `onnx.checker`, a torch vs
ONNX Runtime parity check on real images. Quantization is in `train/quantize.py`.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from train.builders import build
from train.graph import fold_pads
from vision.metadata import (
    RESERVED_OUTPUTS,
    DatasetRef,
    ModelMetadata,
    PreprocessSpec,
    Provenance,
    Thresholds,
    embed_metadata,
)
from vision.preprocess import preprocess

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-4  # max |p_torch - p_onnxruntime| over a batch of real images


def load_network(checkpoint: dict[str, Any]) -> torch.nn.Module:
    """The trained network with its temperature folded into the classifier (logits / T)."""
    built = build(checkpoint["architecture"], len(checkpoint["labels"]), pretrained=False)
    model = built.model
    model.load_state_dict(checkpoint["model"])
    temperature = float(checkpoint["temperature"])
    with torch.no_grad():
        classifier = model.get_classifier()  # type: ignore[operator]
        classifier.weight /= temperature
        classifier.bias /= temperature
    return model.eval()


def export_float(model: torch.nn.Module, spec: PreprocessSpec, path: Path) -> None:
    example = torch.zeros(1, 3, *spec.input_size)
    torch.onnx.export(model, (example,), str(path), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)  # fmt: skip
    folded, count = fold_pads(onnx.load(str(path)))  # the input size is fixed: so are the pads
    onnx.save(folded, str(path))
    log.info("folded %d run-time Pad nodes into their convolutions", count)
    onnx.checker.check_model(str(path), full_check=True)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).resolve().parent)  # fmt: skip
        return out.stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def metadata_for(
    checkpoint: dict[str, Any],
    version: str,
    thresholds: Thresholds,
    metrics: dict[str, float],
    quantization: str = "none",
) -> ModelMetadata:
    trained = datetime.now(UTC)
    return ModelMetadata(
        model_version=version,
        architecture=checkpoint["architecture"],
        labels=tuple(checkpoint["labels"]),
        reserved=tuple(lb for lb in checkpoint["labels"] if lb in RESERVED_OUTPUTS),
        profile="national",
        output="logits",
        quantization=quantization,
        preprocess=PreprocessSpec.model_validate(checkpoint["preprocess"]),
        thresholds=thresholds,
        provenance=Provenance(
            datasets=tuple(DatasetRef.model_validate(d) for d in checkpoint["datasets"]),
            commit=git_commit(),
            trained_at=trained,
            recipe={
                "args": checkpoint["args"],
                "epoch": checkpoint["epoch"],
                "temperature": checkpoint["temperature"],
                "training_seconds": checkpoint["training_seconds"],
            },
        ),
        metrics=metrics,
    )


def save_with_metadata(source: Path, target: Path, metadata: ModelMetadata) -> None:
    model = onnx.load(str(source))
    embed_metadata(model, metadata)
    onnx.save(model, str(target))


def parity(
    model: torch.nn.Module, onnx_path: Path, images: Sequence[np.ndarray], spec: PreprocessSpec
) -> float:
    """Largest probability difference between torch and ONNX Runtime on the same batch."""
    import onnxruntime as ort

    tensor = preprocess(list(images), spec, "bgr")
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(tensor)), dim=1).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"image": tensor})[0]
    got = np.exp(logits - logits.max(axis=1, keepdims=True))
    got /= got.sum(axis=1, keepdims=True)
    return float(np.abs(want - got).max())


def not_retrainable(path: Path, blocks: int) -> str | None:
    """Why `binwatch retrain` could not start from this file (None: it can): its classifier
    must be a Gemm (`train.head.read_head`) and its last `blocks` blocks rebuildable as torch
    (`train.tail`), a static int8 form's both in its own graph (the retrain's default) and
    through its float graph (`train.quantize.float_view`, its other forms). A form that fails
    here must not ship, whatever its accuracy: the supervisors' reviews would have nothing to
    train."""
    from train.head import read_head
    from train.quantize import float_view
    from train.tail import TailModule, cut_for
    from vision.errors import ModelError

    model = onnx.load(str(path))
    try:
        for form in (model, float_view(model)):
            read_head(form)
            if blocks:
                TailModule(form, cut_for(form, blocks))
    except ModelError as error:
        return str(error)
    return None
