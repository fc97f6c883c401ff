"""`binwatch train --small-share`: the share reaches the augmenting worker processes, and
leaving it out is the shipped recipe's (`train.augment.SMALL_SHARE`) draw for draw."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.train.test_night_pairs import Mean
from train.features import cache_features
from train.manifest import Sample
from train.train import get_args_parser
from vision.metadata import PreprocessSpec
from vision.taxonomy import Category


def test_the_share_reaches_the_workers_and_its_default_is_the_recipes(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix.onnx"
    torch.onnx.export(Mean(), (torch.zeros(1, 3, 32, 32),), str(prefix),
                      input_names=["image"], output_names=["features"],
                      dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
                      opset_version=17, dynamo=False)  # fmt: skip
    session = ort.InferenceSession(str(prefix), providers=["CPUExecutionProvider"])
    samples = []
    for n, colour in enumerate([(30, 30, 200), (40, 180, 60), (200, 90, 20)]):
        image = np.full((60, 80, 3), 235, np.uint8)
        image[15:45, 20:60] = colour
        cv2.imwrite(str(tmp_path / f"p{n}.jpg"), image)
        samples.append(Sample(tmp_path / f"p{n}.jpg", "train", Category.OTHER, "residual",
                              "s", f"g{n}", "m"))  # fmt: skip
    spec = PreprocessSpec(input_size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def cache(small_share: float | None = None) -> np.ndarray:
        return cache_features(session, samples, spec, views=4, seed=5, workers=1,
                              small_share=small_share)  # fmt: skip

    default = cache()
    np.testing.assert_array_equal(default, cache(0.0))  # SMALL_SHARE is 0
    small = cache(1.0)
    np.testing.assert_array_equal(small[:3], default[:3])  # the plain views are plain
    assert not np.array_equal(small[3:], default[3:])


def test_the_cli_takes_a_share_from_0_to_1() -> None:
    parser = get_args_parser()
    base = ["--manifest", "m.csv", "--out", "runs/x"]
    assert parser.parse_args(base).small_share == 0.0
    assert parser.parse_args([*base, "--small-share", "0.1"]).small_share == 0.1
    for bad in ("-0.1", "1.5"):
        with pytest.raises(SystemExit):
            parser.parse_args([*base, "--small-share", bad])
