"""train.surfaces: drawn empty plain surfaces for the `background` output, and their place
among the no-item crops and the grounds items are placed on."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from train import augment, surfaces
from train.background import DEFAULT_COUNTS, BackgroundCounts, counts_for, make_backgrounds
from train.surfaces import plain_surface
from train.train import add_arguments
from vision.imageio import read_image
from vision.metadata import BACKGROUND


def test_plain_surfaces_are_varied_and_reproducible() -> None:
    rng = np.random.default_rng(3)
    drawn = [plain_surface(rng, 160, 200) for _ in range(60)]
    assert all(d.shape == (160, 200, 3) and d.dtype == np.uint8 for d in drawn)
    means = np.array([d.mean() for d in drawn])
    assert means.min() < 60 and means.max() > 180  # dark and light floors alike
    spread = np.array([d.std() for d in drawn])
    assert spread.min() > 1.0 and np.median(spread) < 40  # never one flat colour; mostly even
    assert np.array_equal(plain_surface(np.random.default_rng(9), 64, 64),
                          plain_surface(np.random.default_rng(9), 64, 64))  # fmt: skip


def test_a_fifth_of_the_drawn_grounds_are_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """draw_background (no-item crops, hands, grounds under placed items) draws a plain
    surface one time in five."""
    calls: list[tuple[int, int]] = []

    def plain(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        calls.append((height, width))
        return plain_surface(rng, height, width)

    monkeypatch.setattr(augment, "plain_surface", plain)
    rng = np.random.default_rng(0)
    grounds = [augment.draw_background(rng, 48, 64) for _ in range(1000)]
    assert all(g.shape == (48, 64, 3) for g in grounds)
    assert 0.16 < len(calls) / 1000 < 0.24 and set(calls) == {(48, 64)}


def test_plain_crops_are_training_and_validation_data_only(tmp_path: Path) -> None:
    assert DEFAULT_COUNTS["train"].plain > 0 and DEFAULT_COUNTS["val"].plain > 0
    assert DEFAULT_COUNTS["test"].plain == 0  # held out: bench.surfaces draws its own
    assert counts_for("train", 2, 0).plain == 0 and counts_for("train", 2, 7).plain == 7
    assert counts_for("train", 2).plain == DEFAULT_COUNTS["train"].plain
    assert counts_for("val", 2, 7) == DEFAULT_COUNTS["val"]
    with pytest.raises(ValueError, match="0 or more"):
        counts_for("train", 2, -1)
    made = make_backgrounds([], "train", tmp_path / "bg", 0, BackgroundCounts(1, 0, 0, 3))
    assert [s.source for s in made] == ["plain"] * 3
    assert {s.label for s in made} == {BACKGROUND} and len({s.group for s in made}) == 3
    assert all(max(read_image(s.path).shape[:2]) >= 96 for s in made)  # the longer side


def test_binwatch_train_refuses_a_negative_count(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--manifest", "m.csv", "--out", "r", "--plain-surfaces", "-1"])
    assert stop.value.code == 2 and "must be 0 or more, not -1" in capsys.readouterr().err
    args = parser.parse_args(["--manifest", "m.csv", "--out", "r", "--plain-surfaces", "0"])
    assert args.plain_surfaces == 0


def test_a_share_of_plain_surfaces_are_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    """An evenly lit plate with nothing on it (2.4 called it `paper` or `metal`) is drawn
    often enough to be learnt: a bare draw is one colour under a gentle ramp, plus noise."""
    bare: list[np.ndarray] = []

    def counted(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        bare.append(draw_bare(rng, height, width))
        return bare[-1]

    draw_bare = surfaces._bare
    monkeypatch.setattr(surfaces, "_bare", counted)
    rng = np.random.default_rng(5)
    drawn = [surfaces.plain_surface(rng, 90, 120) for _ in range(400)]
    assert abs(len(bare) / len(drawn) - surfaces.BARE_SHARE) < 0.06
    means = [float(d.mean()) for d in bare]
    assert min(means) < 60 and max(means) > 190  # dark floors and light plates alike
    for d in bare:
        grey = d.astype(np.float32).mean(axis=2)
        smooth = cv2.GaussianBlur(grey, (0, 0), 6)
        assert (grey - smooth).std() < 7  # nothing but sensor noise on it
        assert np.ptp(smooth[8:-8, 8:-8]) <= 0.25 * smooth.mean() + 8  # at most a gentle ramp
