"""A tiny but real binwatch classifier, built with onnx.helper, for tests and the README.

The network is a nearest-colour classifier: global average pool, then one linear layer whose
logits are -sharpness·‖x - prototype‖² up to a per-image constant, so an image of a label's
prototype colour gets that label with high confidence and an in-between colour is uncertain.
It runs through the real ONNX Runtime exactly like a trained model.

    python -m tests.tiny_model OUT.onnx    # writes a model `binwatch classify` accepts
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vision.metadata import BACKGROUND, ModelMetadata, PreprocessSpec, Thresholds, embed_metadata

# label → RGB prototype colour (0..255); the twelve labels of ../shared/datasets/waste-v1.
PROTOTYPES: dict[str, tuple[int, int, int]] = {
    "paper": (245, 245, 245),
    "cardboard": (150, 105, 60),
    "carton": (250, 200, 150),
    "glass": (0, 200, 200),
    "metal": (150, 150, 170),
    "plastic": (30, 60, 230),
    "textile": (150, 30, 170),
    "food_waste": (40, 190, 40),
    "battery": (230, 20, 20),
    "medicine": (250, 150, 0),
    "cigarette": (230, 230, 40),
    "residual": (50, 50, 50),
}
# the colour the tiny model calls `background` (no item) when its labels include that output
BACKGROUND_RGB = (128, 128, 128)
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def tiny_metadata(
    labels: Sequence[str] = tuple(PROTOTYPES),
    input_size: int = 32,
    **overrides: object,
) -> ModelMetadata:
    data: dict[str, object] = {
        "model_version": "tiny-1",
        "architecture": "nearest-colour",
        "labels": tuple(labels),
        "preprocess": PreprocessSpec(input_size=(input_size, input_size), mean=MEAN, std=STD),
        "thresholds": Thresholds(correct=0.6, contaminated=0.6),
        "metrics": {"note_not_trained": 0.0},
        "reserved": tuple(label for label in labels if label == BACKGROUND),
    }
    data.update(overrides)
    return ModelMetadata.model_validate(data)


def build_tiny_model(
    labels: Sequence[str] = tuple(PROTOTYPES),
    *,
    input_size: int = 32,
    sharpness: float = 40.0,
    outputs: int | None = None,
    metadata: ModelMetadata | bool | None = True,
    batch: int | str = "batch",
) -> onnx.ModelProto:
    """The model for `labels` (each must be in PROTOTYPES unless `outputs` overrides the count).

    `metadata=True` embeds tiny_metadata(labels); None or False embeds none; a ModelMetadata is
    embedded as given. `outputs` builds a head of that size (to test a label-count mismatch).
    """
    count = outputs if outputs is not None else len(labels)
    protos = np.zeros((count, 3), dtype=np.float32)
    for index, label in enumerate(labels[:count]):
        colour = BACKGROUND_RGB if label == BACKGROUND else PROTOTYPES[label]
        rgb = np.asarray(colour, dtype=np.float32) / 255.0
        protos[index] = (rgb - np.asarray(MEAN)) / np.asarray(STD)
    # -s‖x-p‖² = 2s·x·p - s‖p‖² - s‖x‖²; the last term is the same for every label.
    weight = (2 * sharpness * protos.T).astype(np.float32)  # 3×K
    bias = (-sharpness * (protos**2).sum(axis=1)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_binwatch",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.FLOAT, [batch, 3, input_size, input_size]
            )
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, count])],
        initializer=[
            numpy_helper.from_array(weight, "weight"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if metadata is True:
        embed_metadata(model, tiny_metadata(labels, input_size))
    elif isinstance(metadata, ModelMetadata):
        embed_metadata(model, metadata)
    return model


def write_tiny_model(path: Path, **kwargs: object) -> Path:
    onnx.save(build_tiny_model(**kwargs), str(path))  # type: ignore[arg-type]
    return path


def solid_image(label: str, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A BGR uint8 image of a label's prototype colour (what the tiny model calls `label`)."""
    r, g, b = BACKGROUND_RGB if label == BACKGROUND else PROTOTYPES[label]
    return np.full((*size, 3), (b, g, r), dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description="write a tiny binwatch ONNX model")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    write_tiny_model(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
