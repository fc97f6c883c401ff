"""Fine-tune the last blocks and the head together on cached cut activations (train.tail).

Mini-batches are drawn with replacement in proportion to each row's weight (base labels
balanced, field images weighted up), so the expected loss is the weighted loss the head-only
recipe minimises. Both parts are pulled towards where they started (L2-SP: squared distance to
the active model's tensors), the blocks harder than the head: tens of reviewed images must not
unlearn what thousands of base photos taught them. With `distill`, the base rows also keep the
parent's softened answers (distill_loss), not only their labels; with `keep_features`, the base
rows read as colour frames keep the head's input features where the parent put them
(feature_shift), meant to let reviews of grey frames move what the blocks do with grey frames
and not with the colour ones every day-time camera sends (on eight night draws it gained
nothing: models/README.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from train.grey_head import GreyDelta, GreyFit, fitting_logits
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
    # the base rows also keep the parent's answers: KL to its softened (T = DISTILL_T) outputs,
    # this much of it (0: labels alone)
    distill: float = 0.0
    # the colour base rows' features stay near the parent's: feature_shift, this much of it
    keep_features: float = 0.0


DISTILL_T = 2.0


def distill_loss(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Per row: T² · KL(the parent's softened answer ‖ the candidate's), T = DISTILL_T."""
    t = DISTILL_T
    target = torch.softmax(teacher / t, dim=1)
    own = torch.log_softmax(logits / t, dim=1)
    return (t * t) * (target * (torch.log(target.clamp_min(1e-12)) - own)).sum(dim=1)


def feature_shift(feats: torch.Tensor, parent: torch.Tensor, scale: float) -> torch.Tensor:
    """Per row: squared distance of the head's input features from the parent's, over `scale`
    (the parent's mean squared feature norm, so the term reads as a share of a feature's size)."""
    return ((feats - parent) ** 2).sum(dim=1) / scale


def tail_features(
    tail: TailModule, x: np.ndarray, flags: np.ndarray | None = None, batch: int = 128
) -> np.ndarray:
    """The head's input features of cut activations `x` (rows), float32; `flags`: each row's
    grey flag, for blocks that read one (TailModule's `flag`)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            rows = torch.from_numpy(np.asarray(x[start : start + batch]))
            part = None if flags is None else torch.from_numpy(flags[start : start + batch])
            out.append(tail(rows, part).numpy())
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
    base: np.ndarray | None = None,
    apart: GreyFit | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Trains `tail` in place; returns the new head (weight, bias). With a grey head (`delta`),
    the rows `flags` marks grey are trained as the file reads them: with its correction; with
    `apart`, they train that correction, not the colour head (GreyFit, read back with
    `apart.fitted()`; the blocks learn from every row). With
    `options.distill`, the rows `base` marks also keep the parent's answers (distill_loss); with
    `options.keep_features`, those of them not marked grey keep its features (feature_shift)."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    w0, b0 = (torch.from_numpy(np.asarray(a, np.float32)) for a in start)
    grey = None if flags is None else torch.from_numpy(np.asarray(flags, np.float32))
    base_mask = np.zeros(len(x), bool) if base is None else np.asarray(base, bool)
    colour = base_mask if flags is None else base_mask & (np.asarray(flags) < 0.5)
    keep_rows = base_mask & bool(options.distill)  # keep the parent's answers
    hold_rows = colour & bool(options.keep_features)  # keep the parent's features
    wanted = keep_rows | hold_rows
    parent = torch.zeros((len(x) if wanted.any() else 0, w0.shape[1]))
    if wanted.any():  # the parent's features of the rows a term keeps near it
        part = None if flags is None else np.asarray(flags, np.float32)[wanted]
        parent[torch.from_numpy(wanted)] = torch.from_numpy(tail_features(tail, x[wanted], part))
    teacher: torch.Tensor | None = None
    keep, hold = torch.from_numpy(keep_rows), torch.from_numpy(hold_rows)
    if keep.any():
        teacher = torch.zeros((len(x), len(b0)))
        teacher[keep] = fitting_logits(
            parent[keep], w0, b0, delta, None if grey is None else grey[keep]
        )
    scale = float((parent[hold] ** 2).sum(dim=1).mean()) if hold.any() else 1.0
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    anchors = {k: p.detach().clone() for k, p in tail.params.items()}
    tail.train()
    optimizer = torch.optim.AdamW(
        [
            {"params": [w, b, *(apart.params() if apart is not None else [])], "lr": options.lr},
            {"params": list(tail.params.values()), "lr": options.tail_lr},
        ],
        weight_decay=0.0,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / options.steps))
    )
    p = weights / weights.sum()
    yt = torch.from_numpy(y.astype(np.int64))
    for step in range(options.steps):
        rows = np.sort(rng.choice(len(x), size=options.batch, p=p))
        feats = tail(torch.from_numpy(np.asarray(x[rows])), None if grey is None else grey[rows])
        logits = fitting_logits(feats, w, b, delta, None if grey is None else grey[rows], apart)
        loss = torch.nn.functional.cross_entropy(
            logits, yt[rows], label_smoothing=options.label_smoothing
        )
        if teacher is not None:
            kept = keep[rows]
            if kept.any():
                kl = distill_loss(logits[kept], teacher[rows][kept])
                loss = loss + options.distill * kl.sum() / len(rows)
        held = hold[rows]
        moved = None
        if held.any():
            shift = feature_shift(feats[held], parent[rows][held], scale)
            loss = loss + options.keep_features * shift.sum() / len(rows)
            moved = float(shift.detach().mean())
        pull = sum(((tail.params[k] - a) ** 2).sum() for k, a in anchors.items())
        loss = loss + options.anchor * ((w - w0) ** 2).sum() + options.tail_anchor * pull
        if apart is not None:
            loss = loss + options.anchor * apart.pull()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == options.steps - 1:
            held_note = "" if moved is None else f", colour base features moved {moved:.5f}"
            log.info("tail step %d: loss %.4f%s", step, loss.item(), held_note)
    tail.eval()
    return w.detach().numpy(), b.detach().numpy()


def soup(
    tail: TailModule,
    fits: int,
    fit: Callable[[int], tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`fit(seed)` run `fits` times (seeds `seed`, `seed` + 1, ...), each from the blocks' state
    at the start; the tail left at the mean of the fits' parameters and the mean head returned
    (weight, bias). Fits from one start, pulled towards it, stay close enough that their mean
    is a fit too; it carries less of any one fit's batch draws. One fit: `fit(seed)` alone."""
    if fits == 1:
        return fit(seed)
    start = {k: p.detach().clone() for k, p in tail.params.items()}
    sums = {k: torch.zeros_like(p) for k, p in start.items()}
    heads = []
    for n in range(fits):
        with torch.no_grad():
            for k, p in tail.params.items():
                p.copy_(start[k])
        heads.append(fit(seed + n))
        for k, p in tail.params.items():
            sums[k] += p.detach()
    with torch.no_grad():
        for k, p in tail.params.items():
            p.copy_(sums[k] / fits)
    weight = np.mean([h[0] for h in heads], axis=0).astype(np.float32)
    bias = np.mean([h[1] for h in heads], axis=0).astype(np.float32)
    return weight, bias
