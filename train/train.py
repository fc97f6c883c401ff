"""The training recipe: `get_args_parser()`, `train_one_epoch`, `evaluate`, `main(args)`.

EfficientNet-Lite0 from ImageNet weights; the stem and most blocks stay frozen (their features
are cached per training view, see train.features) and the last blocks plus a new head train on
class-balanced draws with label smoothing, AdamW and a cosine schedule, stopping early on
validation category macro recall. The resolved arguments are saved with every checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from train.augment import SMALL_SHARE
from train.background import DEFAULT_COUNTS, counts_for, make_backgrounds
from train.builders import build
from train.features import Tail, cache_features, cache_night_pairs, export_prefix, split_lite0
from train.manifest import Sample, load_manifests
from train.metrics import fit_temperature, summary
from vision.metadata import BACKGROUND, PreprocessSpec
from vision.taxonomy import Category, label_catalog

log = logging.getLogger(__name__)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="train a binwatch classifier")
    add_arguments(parser)
    return parser


def _share(text: str) -> float:
    """An argparse type: a share, 0 to 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share is from 0 to 1, got {text}")
    return value


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--manifest",
        type=Path,
        action="append",
        required=True,
        help="dataset manifest CSV (repeat to combine)",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder (runs/NAME)")
    p.add_argument("--model", default="efficientnet_lite0", help="model builder")
    p.add_argument("--image-size", type=int, default=224, help="input side in pixels")
    p.add_argument(
        "--trainable-blocks",
        type=int,
        default=5,
        help="last network blocks that train (the rest is frozen and cached; 5: all of "
        "stage 6 and stage 7, since lite0-waste-2.3)",
    )
    p.add_argument(
        "--views",
        type=int,
        default=5,
        help="views per training image: one plain, the rest augmented",
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--samples-per-epoch", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="head learning rate")
    p.add_argument(
        "--body-lr-factor",
        type=float,
        default=0.3,
        help="learning rate of the trainable blocks relative to the head",
    )
    p.add_argument("--weight-decay", type=float, default=0.02)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument(
        "--balance",
        choices=["label", "sqrt", "none"],
        default="label",
        help="class-balanced draws: each label equally (label), by 1/sqrt(count), or not",
    )
    p.add_argument(
        "--background",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add a `background` (no item) output trained on empty crops (train.background)",
    )
    p.add_argument(
        "--real-grounds",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="place items on the split's own no-item corner crops too (needs --background)",
    )
    p.add_argument(
        "--corners-per-photo",
        type=int,
        choices=range(1, 5),
        default=2,
        metavar="N",
        help="no-item corner crops per training tray or pill photo (1 to 4; more real "
        "empty ground for the `background` output and for placing items on)",
    )
    p.add_argument(
        "--plain-surfaces",
        type=_count,
        default=DEFAULT_COUNTS["train"].plain,
        metavar="N",
        help="drawn empty plain surfaces (steel or plastic floors, train.surfaces) among the "
        "training split's no-item crops (0: none, as lite0-waste-2.3)",
    )
    p.add_argument(
        "--night-pairs",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="also cache a daylight view of each training image and its night/IR twin, and "
        "pull the twin's prediction towards the day view's with this weight (0: off)",
    )
    p.add_argument(
        "--pair-batch", type=int, default=16, help="night pairs per step (with --night-pairs)"
    )
    p.add_argument(
        "--small-share",
        type=_share,
        default=SMALL_SHARE,
        metavar="P",
        help="share of the placed training views that put the item small (12-40 %% of the "
        "frame's side) on a wide floor (0.1: lite0-waste-2.8, the default; 0: 2.5; 0.25: 2.7, "
        "tried)",
    )
    p.add_argument("--patience", type=int, default=4, help="epochs without improvement to stop")
    p.add_argument("--warmup-steps", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--device",
        default="cpu",
        help="where the trainable blocks train (cpu, cuda); the frozen part is cached through "
        "ONNX Runtime on the CPU either way",
    )
    p.add_argument("--workers", type=int, default=2, help="processes reading and augmenting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--limit", type=int, default=0, help="use at most N images per split (smoke runs)"
    )


def real_grounds(samples: list[Sample], args: argparse.Namespace) -> list[Path]:
    """The split's own photos of real empty ground (its no-item corner crops: stained tray
    paper, countertops, palms), for placing items on; none with --no-real-grounds."""
    if not args.real_grounds:
        return []
    return [s.path for s in samples if s.label == BACKGROUND and s.source.startswith("corner:")]


def _labels(samples: list[Sample], background: bool) -> list[str]:
    present = {s.label for s in samples}
    labels = [label for label in label_catalog() if label in present]
    return [*labels, BACKGROUND] if background else labels


def _draw_weights(targets: np.ndarray, classes: int, balance: str) -> np.ndarray:
    counts = np.bincount(targets, minlength=classes).astype(np.float64)
    power = {"label": 1.0, "sqrt": 0.5, "none": 0.0}[balance]
    weights = 1.0 / np.maximum(counts, 1) ** power
    w = weights[targets]
    return np.asarray(w / w.sum())


@dataclass
class NightPairs:
    """A daylight view of each training image and its night twin (prefix activations), their
    targets and draw weights; `weight` scales the pull of a twin's prediction towards its day
    view's (KL to the day view's probabilities, which get no gradient from it)."""

    day: np.ndarray
    night: np.ndarray
    targets: np.ndarray
    draw: np.ndarray
    weight: float


def _pair_loss(
    logits: torch.Tensor, y: torch.Tensor, criterion: nn.Module, pairs: NightPairs
) -> torch.Tensor:
    """Cross-entropy on both views of each pair plus the weighted KL(day || night)."""
    day, night = logits.chunk(2)
    both = torch.cat([y, y])
    teacher = torch.softmax(day.detach(), dim=1)
    pull = torch.nn.functional.kl_div(
        torch.log_softmax(night, dim=1), teacher, reduction="batchmean"
    )
    return criterion(torch.cat([day, night]), both) + pairs.weight * pull  # type: ignore[no-any-return]


def train_one_epoch(
    tail: Tail, features: np.ndarray, targets: np.ndarray, draw: np.ndarray,
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
    criterion: nn.Module, args: argparse.Namespace, rng: np.random.Generator, epoch: int,
    pairs: NightPairs | None = None,
) -> float:  # fmt: skip
    tail.train()
    order = rng.choice(len(targets), size=args.samples_per_epoch, replace=True, p=draw)
    total, seen = 0.0, 0
    steps = range(0, len(order), args.batch_size)
    bar = tqdm(steps, desc=f"epoch {epoch}", unit="batch", leave=False)
    for start in bar:
        index = np.sort(order[start : start + args.batch_size])
        x = torch.from_numpy(features[index].astype(np.float32)).to(args.device)
        y = torch.from_numpy(targets[index]).to(args.device)
        if pairs is None:
            loss = criterion(tail(x), y)
        else:  # one forward pass, so batch norm sees day and night views together
            drawn = np.sort(rng.choice(len(pairs.targets), size=args.pair_batch, p=pairs.draw))
            both = np.concatenate([pairs.day[drawn], pairs.night[drawn]]).astype(np.float32)
            logits = tail(torch.cat([x, torch.from_numpy(both).to(args.device)]))
            yp = torch.from_numpy(pairs.targets[drawn]).to(args.device)
            loss = criterion(logits[: len(index)], y) + _pair_loss(
                logits[len(index) :], yp, criterion, pairs
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(index)
        seen += len(index)
        bar.set_postfix(loss=f"{total / seen:.3f}")
    return float(total / max(1, seen))


@torch.no_grad()
def predict_logits(tail: Tail, features: np.ndarray, batch: int = 256) -> np.ndarray:
    tail.eval()
    device = next(tail.parameters()).device
    out = [tail(torch.from_numpy(features[i : i + batch].astype(np.float32)).to(device)).cpu()
           .numpy() for i in range(0, len(features), batch)]  # fmt: skip
    return np.concatenate(out)


def evaluate(logits: np.ndarray, targets: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Fine-label and category accuracy and macro recall (national profile) on the item rows,
    each answered by its most likely item label; with a `background` output also the share of
    empty crops it rejects (`background.recall`) and of items it rejects (`item_rejection`)."""
    from vision.taxonomy import load_profile

    national = load_profile("national")
    items = [lb for lb in labels if lb != BACKGROUND]
    to_cat = np.array([list(Category).index(national.category_of(lb)) for lb in items])
    is_item = targets < len(items)
    predicted = logits[:, : len(items)].argmax(axis=1)
    fine = summary(targets[is_item], predicted[is_item], items)
    cats = summary(
        to_cat[targets[is_item]], to_cat[predicted[is_item]], [c.value for c in Category]
    )
    result: dict[str, Any] = {"fine": fine, "category": cats}
    if len(items) < len(labels):
        rejected = logits.argmax(axis=1) == len(items)
        result["background"] = {
            "recall": float(rejected[~is_item].mean()) if (~is_item).any() else float("nan"),
            "item_rejection": float(rejected[is_item].mean()),
        }
    return result


def _score(metrics: dict[str, Any]) -> tuple[float, float]:
    """Category macro recall, with "no item" as a fifth class when the model has it (an empty
    crop rejected, an item not rejected), then fine macro recall."""
    category = metrics["category"]["macro_recall"]
    if "background" in metrics:
        kept = 1 - metrics["background"]["item_rejection"]
        category = (4 * category * kept + metrics["background"]["recall"]) / 5
    return category, metrics["fine"]["macro_recall"]


def main(args: argparse.Namespace) -> Path:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    dataset = load_manifests(args.manifest)
    train_set, val_set = dataset.split("train"), dataset.split("val")
    if args.limit:
        train_set = list(rng.permutation(np.array(train_set, dtype=object))[: args.limit])
        val_set = list(rng.permutation(np.array(val_set, dtype=object))[: args.limit])
    labels = _labels(list(dataset.samples), args.background)
    if args.background:
        every = list(dataset.samples)
        for name, into in (("train", train_set), ("val", val_set)):
            counts = counts_for(name, args.corners_per_photo, args.plain_surfaces)
            made = make_backgrounds(every, name, args.out / "background" / name, args.seed, counts)
            into += made[:: max(1, len(made) // args.limit)] if args.limit else made
    index = {label: i for i, label in enumerate(labels)}
    built = build(args.model, len(labels))
    spec = PreprocessSpec(input_size=(args.image_size, args.image_size), mean=built.mean,
                          std=built.std)  # fmt: skip
    prefix, tail = split_lite0(built.model, args.trainable_blocks)
    session = export_prefix(prefix, spec.input_size, args.out / "prefix.onnx")

    train_x = cache_features(session, train_set, spec, args.views, args.seed, args.workers,
                             "cache train", real_grounds(train_set, args),
                             args.small_share)  # fmt: skip
    train_y = np.tile(np.array([index[s.label] for s in train_set]), args.views)
    val_x = cache_features(session, val_set, spec, 2, args.seed + 1, args.workers, "cache val",
                           real_grounds(val_set, args), args.small_share)  # fmt: skip
    val_y = np.tile(np.array([index[s.label] for s in val_set]), 2)
    pairs = None
    if args.night_pairs > 0:
        day, night = cache_night_pairs(session, train_set, spec, args.seed, args.workers,
                                       real_grounds(train_set, args),
                                       args.small_share)  # fmt: skip
        pair_y = np.array([index[s.label] for s in train_set])
        pairs = NightPairs(day, night, pair_y, _draw_weights(pair_y, len(labels), args.balance),
                           args.night_pairs)  # fmt: skip
    cached = time.time()
    log.info(
        "cached %d train and %d val views in %.0f s", len(train_y), len(val_y), cached - started
    )

    tail.to(args.device)
    head = list(tail.classifier.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in tail.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": args.lr * args.body_lr_factor}, {"params": head, "lr": args.lr}],
        weight_decay=args.weight_decay,
    )
    steps = args.epochs * math.ceil(args.samples_per_epoch / args.batch_size)

    def schedule(step: int) -> float:
        if step < args.warmup_steps:
            return float((step + 1) / args.warmup_steps)
        return 0.5 * (
            1 + math.cos(math.pi * (step - args.warmup_steps) / max(1, steps - args.warmup_steps))
        )

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    draw = _draw_weights(train_y, len(labels), args.balance)
    resolved = json.loads(json.dumps(vars(args), default=str))
    (args.out / "args.json").write_text(json.dumps(resolved, indent=2))

    best: tuple[float, float] = (-1.0, -1.0)
    best_state: dict[str, torch.Tensor] = {}
    best_epoch, history = 0, []
    for epoch in range(1, args.epochs + 1):
        loss = train_one_epoch(tail, train_x, train_y, draw, optimizer, scheduler, criterion,
                               args, rng, epoch, pairs)  # fmt: skip
        n = len(val_set)
        logits = predict_logits(tail, val_x)
        plain, augmented = (
            evaluate(logits[:n], val_y[:n], labels),
            evaluate(logits[n:], val_y[n:], labels),
        )
        score = tuple((a + b) / 2 for a, b in zip(_score(plain), _score(augmented), strict=True))
        row = {"epoch": epoch, "loss": loss,
               "val_category_macro_recall": plain["category"]["macro_recall"],
               "val_fine_macro_recall": plain["fine"]["macro_recall"],
               "val_aug_category_macro_recall": augmented["category"]["macro_recall"],
               "val_background": plain.get("background"),
               "score": score[0], "seconds": round(time.time() - started)}  # fmt: skip
        history.append(row)
        log.info("epoch %d: %s", epoch, json.dumps(row))
        with (args.out / "log.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        if score > best:
            best, best_epoch = score, epoch  # type: ignore[assignment]
            best_state = {k: v.detach().cpu().clone() for k, v in built.model.state_dict().items()}
        elif epoch - best_epoch >= args.patience:
            log.info("no improvement for %d epochs: stopping", args.patience)
            break

    built.model.load_state_dict(best_state)
    logits = predict_logits(tail, val_x)
    temperature = fit_temperature(logits[: len(val_set)], val_y[: len(val_set)])
    final = evaluate(logits[: len(val_set)], val_y[: len(val_set)], labels)
    checkpoint = Path(args.out) / "checkpoint.pt"
    torch.save({
        "model": {k: v.cpu() for k, v in built.model.state_dict().items()},
        "architecture": built.architecture,
        "labels": labels,
        "preprocess": spec.model_dump(mode="json"),
        "temperature": temperature,
        "args": resolved,
        "epoch": best_epoch,
        "history": history,
        "val": {"category": {k: final["category"][k] for k in ("accuracy", "macro_recall")},
                "fine": {k: final["fine"][k] for k in ("accuracy", "macro_recall")}},
        "datasets": [r.model_dump() for r in dataset.refs],
        "training_seconds": round(time.time() - started),
        "cache_seconds": round(cached - started),
    }, checkpoint)  # fmt: skip
    log.info("best epoch %d, temperature %.3f, %.0f s in all; wrote %s",
             best_epoch, temperature, time.time() - started, checkpoint)  # fmt: skip
    return checkpoint
