"""A stand-in frozen prefix and three coloured photos, for the feature-cache tests: the cache's
workers, seeds and augmentation run for real, without a network to export."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from train.manifest import Sample
from vision.metadata import PreprocessSpec
from vision.taxonomy import Category

SPEC = PreprocessSpec(input_size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


class Mean(nn.Module):
    """A stand-in prefix: per-channel means of the preprocessed image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


def mean_prefix(folder: Path) -> ort.InferenceSession:
    prefix = folder / "prefix.onnx"
    torch.onnx.export(Mean(), (torch.zeros(1, 3, 32, 32),), str(prefix),
                      input_names=["image"], output_names=["features"],
                      dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
                      opset_version=17, dynamo=False)  # fmt: skip
    return ort.InferenceSession(str(prefix), providers=["CPUExecutionProvider"])


def coloured_photos(folder: Path) -> list[Sample]:
    """Three photos, a coloured block on a light studio background each."""
    samples = []
    for n, colour in enumerate([(30, 30, 200), (40, 180, 60), (200, 90, 20)]):
        image = np.full((60, 80, 3), 235, np.uint8)
        image[15:45, 20:60] = colour
        cv2.imwrite(str(folder / f"p{n}.jpg"), image)
        samples.append(Sample(folder / f"p{n}.jpg", "train", Category.OTHER, "residual",
                              "s", f"g{n}", "m"))  # fmt: skip
    return samples
