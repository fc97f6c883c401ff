"""Cache what the frozen part of the network computes, so training on this 2-core CPU only runs
the part that learns.

The network is cut in two: a frozen `prefix` (ImageNet features: stem and the first stages) and
a trainable `tail` (the last blocks and the new head). The prefix runs once per training view
(a plain view and several augmented ones per image) through ONNX Runtime, which is several times
faster than torch eager on this CPU; the tail trains on the cached activations.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn
from tqdm import tqdm

from train.augment import SMALL_SHARE, make_augmenter, night_frame
from train.manifest import Sample
from vision.imageio import read_image
from vision.metadata import PreprocessSpec
from vision.preprocess import preprocess

log = logging.getLogger(__name__)


class Tail(nn.Module):
    """The trainable end of EfficientNet-Lite0: last blocks, head conv, pooling, classifier."""

    def __init__(
        self, blocks: nn.Module, conv_head: nn.Module, bn2: nn.Module, classifier: nn.Linear
    ):
        super().__init__()
        self.blocks, self.conv_head, self.bn2, self.classifier = blocks, conv_head, bn2, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.conv_head(self.blocks(x)))
        return self.classifier(x.mean(dim=(2, 3)))  # type: ignore[no-any-return]


class Prefix(nn.Module):
    def __init__(self, stem: nn.Module, bn1: nn.Module, blocks: nn.Module):
        super().__init__()
        self.stem, self.bn1, self.blocks = stem, bn1, blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.stem(x)))  # type: ignore[no-any-return]


def split_lite0(model: nn.Module, trainable_blocks: int) -> tuple[Prefix, Tail]:
    """Cut a timm EfficientNet-Lite0 so that its last `trainable_blocks` blocks train."""
    flat = [block for stage in model.blocks for block in stage]  # type: ignore[union-attr]
    if not 0 <= trainable_blocks <= len(flat):
        raise ValueError(f"trainable_blocks must be in 0..{len(flat)}, got {trainable_blocks}")
    cut = len(flat) - trainable_blocks
    prefix = Prefix(model.conv_stem, model.bn1, nn.Sequential(*flat[:cut]))  # type: ignore[arg-type]
    tail = Tail(nn.Sequential(*flat[cut:]), model.conv_head, model.bn2, model.classifier)  # type: ignore[arg-type]
    return prefix, tail


def export_prefix(prefix: Prefix, size: tuple[int, int], path: Path) -> ort.InferenceSession:
    prefix.eval()
    example = torch.zeros(1, 3, *size)
    torch.onnx.export(prefix, (example,), str(path),
                      input_names=["image"], output_names=["features"],
                      dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
                      opset_version=17, dynamo=False)  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = prefix(example).numpy()
    got = session.run(None, {"image": example.numpy()})[0]
    if not np.allclose(want, got, atol=1e-3):
        raise RuntimeError(f"prefix export differs from torch by {np.abs(want - got).max():.2e}")
    return session


@dataclass(frozen=True)
class _Job:
    paths: tuple[str, ...]
    seeds: tuple[int, ...]  # -1: the plain view
    spec: PreprocessSpec
    grounds: tuple[str, ...] = ()  # photos of real empty ground for placement
    pairs: bool = False  # a daylight field view and its night twin per path
    small_share: float = SMALL_SHARE  # of the placements: the item small on a wide floor


@lru_cache(maxsize=2)
def _ground_images(paths: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Read once per worker process (the grounds are the same for every job of a split)."""
    return tuple(read_image(path) for path in paths)


def _prepare(job: _Job) -> np.ndarray:
    # one seeded augmenter per job: reproducible
    augment = make_augmenter(
        max(0, *job.seeds),
        grounds=_ground_images(job.grounds),
        night=not job.pairs,
        small_share=job.small_share,
    )
    images = [read_image(path) for path in job.paths]
    if job.pairs:  # the day views, then the same views as a night/IR camera sees them
        days = [augment(im) for im in images]
        return preprocess([*days, *(night_frame(d) for d in days)], job.spec, "bgr")
    views = [augment(im) if seed >= 0 else im for im, seed in zip(images, job.seeds, strict=True)]
    return preprocess(views, job.spec, "bgr")


def _jobs(samples: Sequence[Sample], views: int, seed: int, spec: PreprocessSpec, batch: int,
          grounds: tuple[str, ...], small_share: float) -> Iterator[_Job]:  # fmt: skip
    items = [(str(s.path), -1 if v == 0 else seed * 1_000_003 + i * 97 + v)
             for v in range(views) for i, s in enumerate(samples)]  # fmt: skip
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        yield _Job(tuple(p for p, _ in chunk), tuple(s for _, s in chunk), spec, grounds,
                   small_share=small_share)  # fmt: skip


def cache_features(
    session: ort.InferenceSession,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    views: int = 1,
    seed: int = 0,
    workers: int = 2,
    desc: str = "features",
    grounds: Sequence[Path] = (),
    small_share: float = SMALL_SHARE,
) -> np.ndarray:
    """Prefix activations (float16) for `views` views of each sample: view 0 plain, the rest
    augmented (placed on `grounds`, photos of real empty ground, now and then; `small_share`
    of the placements small on a wide floor); rows are
    ordered view-major (all samples' view 0, then view 1, ...)."""
    jobs = _jobs(samples, views, seed, spec, 32, tuple(str(p) for p in grounds), small_share)
    return np.concatenate(_run(session, jobs, len(samples) * views, desc, workers))


def _run(session: ort.InferenceSession, jobs: Iterator[_Job], total: int, desc: str,
         workers: int) -> list[np.ndarray]:  # fmt: skip
    """Each job's images prepared in `workers` processes, then through the prefix (float16)."""
    parts = []
    context = mp.get_context("spawn")
    with context.Pool(workers) as pool, tqdm(total=total, desc=desc, unit="img") as bar:
        for tensor in pool.imap(_prepare, jobs):
            parts.append(session.run(None, {"image": tensor})[0].astype(np.float16))
            bar.update(len(tensor))
    return parts


def cache_night_pairs(
    session: ort.InferenceSession,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    seed: int = 0,
    workers: int = 2,
    grounds: Sequence[Path] = (),
    small_share: float = SMALL_SHARE,
) -> tuple[np.ndarray, np.ndarray]:
    """Prefix activations (float16) of one daylight field view of each sample (placed,
    lit and blurred as `cache_features` does, never grey) and of the same view as a night/IR
    camera sees it (`train.augment.night_frame`): (day, night), rows in sample order."""
    ground_paths = tuple(str(path) for path in grounds)
    items = [(str(s.path), seed * 1_000_003 + i * 97 + 50) for i, s in enumerate(samples)]
    jobs = (
        _Job(
            tuple(p for p, _ in chunk),
            tuple(v for _, v in chunk),
            spec,
            ground_paths,
            pairs=True,
            small_share=small_share,
        )
        for chunk in (items[i : i + 16] for i in range(0, len(items), 16))
    )
    parts = _run(session, jobs, 2 * len(samples), "night pairs", workers)
    days = [part[: len(part) // 2] for part in parts]  # each job: its day views, then twins
    nights = [part[len(part) // 2 :] for part in parts]
    return np.concatenate(days), np.concatenate(nights)
