"""Tuning blocks with `distill`: the base rows keep the parent's softened answers as well as
their labels (train.tail_fit.distill_loss), so reviews move the site without moving the base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

from tests.train.cut_rows import cut_rows
from train.grey_head import drop_grey_head
from train.head import read_head
from train.retrain import RetrainOptions, train_head
from train.tail import TailModule, cut_for
from train.tail_fit import TailOptions, distill_loss, tail_features, train_tail


def test_distill_loss_is_zero_only_on_the_parents_answer() -> None:
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    assert torch.allclose(distill_loss(teacher, teacher), torch.zeros(2), atol=1e-6)
    moved = distill_loss(teacher + torch.tensor([[0.0, 2.0, 0.0]]), teacher)
    assert moved[0] > 0.1 and moved[1] > 0.1  # a shift of one logit costs on every row
    assert torch.allclose(distill_loss(teacher + 5.0, teacher), torch.zeros(2), atol=1e-5)


def _kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    def log_softmax(z: np.ndarray) -> np.ndarray:
        z = z - z.max(1, keepdims=True)
        return np.asarray(z - np.log(np.exp(z).sum(1, keepdims=True)))

    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    return float((np.exp(lp) * (lp - lq)).sum(1).mean())


def test_distilled_base_rows_keep_the_parents_answers(weights_model: Path) -> None:
    """Labels that pull every row one way (as a site's reviews pull): with `distill` the rows
    marked base end nearer the parent's answers than without, the rest fit their labels."""
    model = drop_grey_head(onnx.load(str(weights_model)))
    cut, head = cut_for(model, 1), read_head(model)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(32)]
    x = cut_rows(model, cut, images)
    parent = tail_features(TailModule(model, cut), x) @ head.weight.T + head.bias
    y = np.zeros(len(images), np.int64)  # every row told "the first label"
    base = np.arange(len(images)) < 16
    kl, fit = {}, {}
    for distill in (0.0, 5.0):
        options = TailOptions(steps=60, batch=16, lr=5e-2, tail_lr=1e-3, anchor=0.0,
                              tail_anchor=0.0, label_smoothing=0.0, seed=0,
                              distill=distill)  # fmt: skip
        tail = TailModule(model, cut)
        w, b = train_tail(tail, (head.weight, head.bias), x, y, np.ones(len(y)), options,
                          base=base)  # fmt: skip
        logits = tail_features(tail, x) @ w.T + b
        kl[distill] = _kl(parent[base], logits[base])
        fit[distill] = float((logits[~base].argmax(1) == 0).mean())
    assert kl[5.0] < 0.5 * kl[0.0], kl
    assert fit[5.0] >= 0.5 and fit[0.0] == 1.0, fit


def test_the_head_alone_keeps_the_parents_answers_on_base_rows() -> None:
    """`head_distill` does for a head-only retrain what `distill` does for blocks: the rows
    marked base end nearer the start head's answers, the rest still fit their labels."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 16)).astype(np.float32)
    start = (rng.normal(size=(3, 16)).astype(np.float32), np.zeros(3, np.float32))
    parent = x @ start[0].T + start[1]
    y = np.zeros(len(x), np.int64)  # every row told "the first label"
    base = np.arange(len(x)) < 20
    kl, fit = {}, {}
    for weight in (0.0, 5.0):
        options = RetrainOptions(steps=150, lr=5e-2, anchor=0.0, head_distill=weight)
        w, b = train_head(x, y, np.ones(len(y)), start, options, base=base)
        logits = x @ w.T + b
        kl[weight] = _kl(parent[base], logits[base])
        fit[weight] = float((logits[~base].argmax(1) == 0).mean())
    assert kl[5.0] < 0.5 * kl[0.0], kl
    assert fit[5.0] >= 0.5 and fit[0.0] == 1.0, fit
