"""The retrain feature cache: computes only what it lacks, survives a corrupt file and a folder
it cannot write, and never confuses two models or a changed photo."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.feature_cache import FeatureCache
from train.manifest import Sample
from vision.taxonomy import Category


def photos(tmp_path: Path, count: int) -> list[Sample]:
    made = []
    for n in range(count):
        path = tmp_path / f"p{n}.jpg"
        path.write_bytes(f"photo {n}".encode())
        made.append(Sample(path, "train", Category.OTHER, "residual", "s", f"g{n}", "m"))
    return made


class Counting:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, samples: Sequence[Sample]) -> np.ndarray:
        self.seen += [s.path.name for s in samples]
        return np.array([[len(s.path.read_bytes()), float(s.path.stem[1:])] for s in samples])


def test_second_run_computes_nothing(tmp_path: Path) -> None:
    samples = photos(tmp_path, 5)
    compute = Counting()
    first = FeatureCache(tmp_path / "cache", "a" * 64).features(samples[:3], compute)
    cache = FeatureCache(tmp_path / "cache", "a" * 64)
    again = cache.features(samples, compute)
    assert compute.seen == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg", "p4.jpg"]
    np.testing.assert_array_equal(again[:3], first)
    assert (cache.hits, cache.misses) == (3, 2)
    assert FeatureCache(tmp_path / "cache", "b" * 64).features(samples[:1], compute).shape == (1, 2)
    assert compute.seen[-1] == "p0.jpg"  # another model: its own cache


def test_a_changed_photo_is_computed_again(tmp_path: Path) -> None:
    samples = photos(tmp_path, 2)
    compute = Counting()
    FeatureCache(tmp_path / "c", "a" * 64).features(samples, compute)
    samples[1].path.write_bytes(b"another photo, longer")
    rows = FeatureCache(tmp_path / "c", "a" * 64).features(samples, compute)
    assert compute.seen == ["p0.jpg", "p1.jpg", "p1.jpg"] and rows[1, 0] == 21


def test_corrupt_cache_is_ignored_and_rewritten(tmp_path: Path) -> None:
    samples = photos(tmp_path, 2)
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / f"{'a' * 64}.npz").write_bytes(b"not a zip")
    compute = Counting()
    FeatureCache(folder, "a" * 64).features(samples, compute)
    FeatureCache(folder, "a" * 64).features(samples, compute)
    assert compute.seen == ["p0.jpg", "p1.jpg"]


def test_a_cache_it_cannot_write_only_costs_speed(tmp_path: Path) -> None:
    samples = photos(tmp_path, 2)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    rows = FeatureCache(blocked, "a" * 64).features(samples, Counting())
    assert rows.shape == (2, 2)
