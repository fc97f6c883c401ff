"""Tuning blocks with `keep_features`: the base rows read as colour frames keep the head's input
features near the parent's (train.tail_fit.feature_shift); grey base rows and reviews are free."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from tests.train.cut_rows import cut_rows
from train.grey_head import drop_grey_head
from train.head import read_head
from train.retrain import RetrainOptions
from train.tail import TailModule, cut_for
from train.tail_fit import TailOptions, feature_shift, tail_features, train_tail


def test_feature_shift_is_a_share_of_the_features_size() -> None:
    parent = torch.tensor([[3.0, 4.0], [0.0, 5.0]])
    assert torch.allclose(feature_shift(parent, parent, 25.0), torch.zeros(2))
    moved = feature_shift(parent + torch.tensor([[0.0, 5.0]]), parent, 25.0)
    assert torch.allclose(moved, torch.ones(2))  # moved by a whole feature's size


def _fit(model: onnx.ModelProto, weight: float, flags: np.ndarray) -> dict[str, np.ndarray]:
    """Labels that pull every row one way (as a site's reviews pull); the first two thirds of
    the rows are base, `flags` marks the grey ones. Gives the parent's features, the tuned
    blocks' features and head weight."""
    cut, head = cut_for(model, 1), read_head(model)
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(len(flags))]
    x = cut_rows(model, cut, images)
    options = TailOptions(steps=60, batch=16, lr=5e-2, tail_lr=1e-3, anchor=0.0, tail_anchor=0.0,
                          label_smoothing=0.0, seed=0, keep_features=weight)  # fmt: skip
    tail = TailModule(model, cut)
    parent = tail_features(tail, x)
    w, b = train_tail(tail, (head.weight, head.bias), x, np.zeros(len(flags), np.int64),
                      np.ones(len(flags)), options, flags=flags,
                      base=np.arange(len(flags)) < 2 * len(flags) // 3)  # fmt: skip
    return {"parent": parent, "features": tail_features(tail, x), "weight": w, "bias": b}


def test_colour_base_rows_keep_the_parents_features(weights_model: Path) -> None:
    """With `keep_features` the colour base rows' features end far nearer the parent's than
    without; the rows that are not base still fit their labels."""
    model = drop_grey_head(onnx.load(str(weights_model)))
    colour = np.zeros(48, np.float32)
    moved, fit = {}, {}
    for weight in (0.0, 50.0):
        run = _fit(model, weight, colour)
        parent, feats = run["parent"][:32], run["features"][:32]
        moved[weight] = float(((feats - parent) ** 2).sum(1).mean() / (parent**2).sum(1).mean())
        logits = run["features"][32:] @ run["weight"].T + run["bias"]
        fit[weight] = float((logits.argmax(1) == 0).mean())
    assert moved[0.0] > 0.1 and moved[50.0] < 0.05 * moved[0.0], moved
    assert fit == {0.0: 1.0, 50.0: 1.0}, fit


def test_grey_base_rows_are_not_held(weights_model: Path) -> None:
    """Base rows read as grey frames are left to the reviews: with every base row grey, the
    term changes nothing, to the last bit."""
    model = drop_grey_head(onnx.load(str(weights_model)))
    grey = np.ones(48, np.float32)
    free, held = _fit(model, 0.0, grey), _fit(model, 50.0, grey)
    for key in ("features", "weight", "bias"):
        assert np.array_equal(free[key], held[key]), key


def test_keep_features_is_not_negative() -> None:
    with pytest.raises(ValueError, match="keep_features"):
        RetrainOptions(keep_features=-1.0)
