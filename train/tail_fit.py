"""Fine-tune the last blocks and the head together on cached cut activations (train.tail).

Mini-batches are drawn with replacement in proportion to each row's weight (base labels
balanced, field images weighted up), so the expected loss is the weighted loss the head-only
recipe minimises. Both parts are pulled towards where they started (L2-SP: squared distance to
the active model's tensors), the blocks harder than the head: tens of reviewed images must not
unlearn what thousands of base photos taught them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from train.grey_head import GreyDelta, grey_term
from train.tail import TailModule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TailOptions:
    """No defaults here: `binwatch retrain`'s RetrainOptions holds them (one place)."""

    steps: int
    batch: int
    lr: float  # head
    tail_lr: float  # blocks
    anchor: float  # head pull (as the head-only recipe)
    tail_anchor: float  # blocks pull
    label_smoothing: float
    seed: int


def tail_features(tail: TailModule, x: np.ndarray, batch: int = 128) -> np.ndarray:
    """The head's input features of cut activations `x` (rows), float32."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(tail(torch.from_numpy(np.asarray(x[start : start + batch]))).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def train_tail(
    tail: TailModule,
    start: tuple[np.ndarray, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    options: TailOptions,
    delta: GreyDelta | None = None,
    flags: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Trains `tail` in place; returns the new head (weight, bias). With a grey head (`delta`),
    the rows `flags` marks grey are trained as the file reads them: with its correction."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    w0, b0 = (torch.from_numpy(np.asarray(a, np.float32)) for a in start)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    anchors = {k: p.detach().clone() for k, p in tail.params.items()}
    tail.train()
    optimizer = torch.optim.AdamW(
        [
            {"params": [w, b], "lr": options.lr},
            {"params": list(tail.params.values()), "lr": options.tail_lr},
        ],
        weight_decay=0.0,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / options.steps))
    )
    p = weights / weights.sum()
    yt = torch.from_numpy(y.astype(np.int64))
    grey = None if flags is None else torch.from_numpy(np.asarray(flags, np.float32))
    for step in range(options.steps):
        rows = np.sort(rng.choice(len(x), size=options.batch, p=p))
        feats = tail(torch.from_numpy(np.asarray(x[rows])))
        logits = feats @ w.T + b + grey_term(feats, delta, None if grey is None else grey[rows])
        loss = torch.nn.functional.cross_entropy(
            logits, yt[rows], label_smoothing=options.label_smoothing
        )
        pull = sum(((tail.params[k] - a) ** 2).sum() for k, a in anchors.items())
        loss = loss + options.anchor * ((w - w0) ** 2).sum() + options.tail_anchor * pull
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == options.steps - 1:
            log.info("tail step %d: loss %.4f", step, loss.item())
    tail.eval()
    return w.detach().numpy(), b.detach().numpy()
