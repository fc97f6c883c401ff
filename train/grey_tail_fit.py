"""Train a grey tail (train.grey_tail) and write the file that carries it:

    .venv/bin/python -m train.grey_tail_fit --model models/binwatch.onnx \\
        --out lite0-waste-2.11.onnx --version lite0-waste-2.11 \\
        --manifest ../shared/datasets/waste-v1/manifest.csv \\
        --manifest ../shared/datasets/waste-extra-v1/manifest.csv

Each training photo and "no item" crop is drawn `views` times as training draws it (placed, lit,
blurred: train.augment), and each draw is read twice by the parent file: in colour to the head's
features (the teacher), and made grey (train.grey_head.greyed) to the activations at the cut
before the last `blocks` blocks. A copy of those blocks (train.tail, in the file's own int8 graph)
is then trained on the grey views alone, so that it (1) reads each grey view as the colour blocks
read the same view in colour (mean squared distance to the teacher's features, over their mean
square: `match`) and (2) answers its label (cross-entropy, labels balanced by sampling: `ce`),
both pulled towards where they started. Only the blocks before the final convolution move: the
final convolution stays shared with the colour path. The head the grey path is fitted with starts
at the file's grey reading (head plus grey correction) and becomes the new grey correction.

On this CPU, 20 min: the "no item" crops and the views 6 min, 1,500 steps of 128 14 min, the test
numbers 16 s (models/README.md, "A copy of the last block for grey frames": not shipped, and
why).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from train.augment import make_augmenter
from train.background import make_backgrounds
from train.grey_head import (
    GreyDelta,
    add_grey_head,
    drop_grey_head,
    greyed,
    read_grey_head,
    save_step,
    step_parser,
)
from train.grey_tail import add_grey_tail, drop_grey_tail, switched_tensor
from train.head import read_head, with_features
from train.manifest import Sample, load_manifests
from train.tail import TailModule, boundaries, cut_for, with_outputs
from vision.classifier import session_options
from vision.errors import ModelError
from vision.imageio import read_image
from vision.metadata import ModelMetadata, parse_metadata
from vision.preprocess import Image, preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GreyTailOptions:
    blocks: int = 2  # the copy runs from the cut before the last `blocks`, up to the final conv
    views: int = 2  # colour/grey pairs of each training photo
    steps: int = 1500
    batch: int = 128
    lr: float = 5e-4  # blocks
    head_lr: float = 1e-3
    match: float = 1.0  # weight of the feature matching
    ce: float = 1.0  # weight of the labels' cross-entropy
    pull: float = 0.01  # squared distance of the blocks to where they started
    head_pull: float = 1e-3
    # half the grey views get sensor noise (the same in the three channels, so they stay grey),
    # σ uniform up to this many grey levels; 0: none
    noise: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class PairedViews:
    cut: npt.NDArray[np.float16]  # grey views' activations at the cut
    teacher: npt.NDArray[np.float32]  # the same views' head features in colour
    targets: npt.NDArray[np.int64]


def paired_views(
    model: onnx.ModelProto, metadata: ModelMetadata, samples: Sequence[Sample], cut: str,
    options: GreyTailOptions, threads: int = 2, batch: int = 64,
) -> PairedViews:  # fmt: skip
    """`options.views` draws of each sample: the colour draw's head features and the grey
    draw's activations at `cut`, both read by `model` (without a grey head or tail)."""
    graph = with_outputs(with_features(model), [cut])
    session = ort.InferenceSession(graph.SerializeToString(), session_options(threads),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    features = session.get_outputs()[1].name
    augment = make_augmenter(options.seed, night=False)
    rng = np.random.default_rng(options.seed)
    cuts, teacher = [], []
    for view in range(options.views):
        starts = range(0, len(samples), batch)
        for start in tqdm(starts, desc=f"paired view {view + 1}", unit="batch", leave=False):
            colour = [augment(read_image(s.path)) for s in samples[start : start + batch]]
            grey = [noisy(greyed(image, rng), rng, options.noise) for image in colour]
            spec = metadata.preprocess
            (feats,) = session.run([features], {"image": preprocess(colour, spec, "bgr")})
            (at_cut,) = session.run([cut], {"image": preprocess(grey, spec, "bgr")})
            teacher.append(np.asarray(feats, np.float32))
            cuts.append(np.asarray(at_cut).astype(np.float16))
    index = {label: i for i, label in enumerate(metadata.labels)}
    targets = np.tile([index[s.label] for s in samples], options.views).astype(np.int64)
    return PairedViews(np.concatenate(cuts), np.concatenate(teacher), targets)


def noisy(image: Image, rng: np.random.Generator, sigma: float) -> Image:
    """A grey frame with sensor noise half the time (σ uniform in 0..`sigma` levels), the same
    noise in its three channels; the frame as it is when `sigma` is 0."""
    if sigma <= 0 or rng.random() < 0.5:
        return image
    noise = rng.normal(0, rng.uniform(0, sigma), image.shape[:2])[..., None]
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def fit_grey_tail(
    model: onnx.ModelProto, cut: str, views: PairedViews, start: tuple[np.ndarray, np.ndarray],
    options: GreyTailOptions,
) -> tuple[TailModule, np.ndarray, np.ndarray]:  # fmt: skip
    """The grey copy of `model`'s blocks from `cut` (only those before the final convolution
    move), trained on `views`, and the grey head (weight, bias) trained with it from `start`."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    tail = TailModule(model, cut)
    switched = switched_tensor(model, boundaries(model)[0])
    end = next((i for i, n in enumerate(tail.nodes) if switched in n.output), None)
    if end is None:
        raise ModelError(
            f"a grey copy of {options.blocks} block(s) holds nothing before the final convolution:"
            " blocks must be 2 or more"
        )
    moving = {t for n in tail.nodes[: end + 1] for t in n.input if t in tail.keys}
    for name, key in tail.keys.items():
        tail.params[key].requires_grad_(name in moving)
    anchors = {k: p.detach().clone() for k, p in tail.params.items() if p.requires_grad}
    w0, b0 = (torch.from_numpy(np.asarray(a, np.float32)) for a in start)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    optimizer = torch.optim.AdamW(
        [
            {"params": [tail.params[k] for k in anchors], "lr": options.lr},
            {"params": [w, b], "lr": options.head_lr},
        ],
        weight_decay=0.0,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / options.steps))
    )
    counts = np.bincount(views.targets, minlength=len(b0)).astype(float)
    p = (1.0 / np.maximum(counts, 1))[views.targets]
    p /= p.sum()
    scale = float(np.mean(views.teacher**2))
    targets = torch.from_numpy(views.targets)
    tail.train()
    for step in range(options.steps):
        rows = np.sort(rng.choice(len(views.targets), size=options.batch, p=p))
        feats = tail(torch.from_numpy(views.cut[rows].astype(np.float32)))
        teacher = torch.from_numpy(views.teacher[rows])
        loss = options.match * ((feats - teacher) ** 2).mean() / scale
        if options.ce:
            logits = feats @ w.T + b
            loss = loss + options.ce * torch.nn.functional.cross_entropy(logits, targets[rows])
        pull = sum(((tail.params[k] - a) ** 2).sum() for k, a in anchors.items())
        loss = loss + options.pull * pull + options.head_pull * ((w - w0) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == options.steps - 1:
            log.info("grey tail step %d: loss %.4f", step, loss.item())
    tail.eval()
    return tail, w.detach().numpy(), b.detach().numpy()


def build(
    loaded: onnx.ModelProto, metadata: ModelMetadata, samples: Sequence[Sample],
    options: GreyTailOptions, threads: int = 2,
) -> onnx.ModelProto:  # fmt: skip
    """`loaded` (a file with a grey head) with a grey tail trained on `samples` (a grey tail it
    had is replaced), and its grey correction the head the tail was trained with."""
    delta = read_grey_head(loaded)
    if delta is None:
        raise ModelError("a grey tail builds on a file with a grey head (train.grey_head)")
    colour = drop_grey_tail(loaded)
    plain = drop_grey_head(colour)
    cut = cut_for(plain, options.blocks)
    views = paired_views(plain, metadata, samples, cut, options, threads)
    log.info("%d paired views", len(views.targets))
    head = read_head(plain)
    start = (head.weight + delta.weight, head.bias + delta.bias)
    tail, weight, bias = fit_grey_tail(plain, cut, views, start, options)
    out = add_grey_tail(colour, tail, delta.threshold)
    return add_grey_head(out, GreyDelta(weight - head.weight, bias - head.bias, delta.threshold))


def main() -> None:
    parser = step_parser(__doc__, "a binwatch file, grey head")
    defaults = GreyTailOptions()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--every", type=int, default=1, help="every n-th photo (quick runs)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.monotonic()
    options = GreyTailOptions(**{k: getattr(args, k) for k in asdict(defaults)})
    loaded = onnx.load(str(args.model))
    meta = parse_metadata({p.key: p.value for p in loaded.metadata_props}, str(args.model))
    dataset = load_manifests(args.manifest)
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_backgrounds(dataset.samples, "train", Path(tmp) / "bg", options.seed)
        train = [*dataset.split("train"), *empty][:: args.every]
        out = build(loaded, meta, train, options, args.threads)
    entry = {
        "from": meta.model_version, **asdict(options), "photos": len(train),
        "every": args.every, "seconds": round(time.monotonic() - started),
    }  # fmt: skip
    save_step(out, meta, args.version, "grey_tail", entry, args.manifest, args.out)
    log.info("wrote %s (%s) in %.0f s", args.out, args.version, time.monotonic() - started)


if __name__ == "__main__":
    main()
