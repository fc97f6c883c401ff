"""`bench/separable.py`: a head fitted on a site's own photos, scored on photos it did not see
(whole groups to a fold), reads what the features hold and no more."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from bench.separable import close_up, depth_names, fit_and_score, folds_by_group, main
from tests.conftest import WASTE_V1
from train.head import _gemm
from train.tail import cut_for


def test_a_group_never_sits_in_two_folds() -> None:
    groups = [f"g{n // 3}" for n in range(60)]  # 20 groups of three near-duplicates
    folds = folds_by_group(groups, 5, seed=1)
    for group in set(groups):
        assert len({int(folds[i]) for i, g in enumerate(groups) if g == group}) == 1
    assert sorted(np.unique(folds).tolist()) == [0, 1, 2, 3, 4]
    assert np.array_equal(folds, folds_by_group(groups, 5, seed=1))


def test_what_the_features_hold_is_what_it_reads() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 40)
    folds = folds_by_group([f"g{n // 2}" for n in range(len(y))], 4, seed=0)
    centres = rng.normal(size=(4, 16)) * 4
    apart = centres[y] + rng.normal(size=(len(y), 16))
    recall, answer = fit_and_score(apart, y, folds)
    assert recall > 0.97 and answer.shape == y.shape
    # the same labels on features that know nothing of them: about one in four
    blind, _ = fit_and_score(rng.normal(size=(len(y), 16)), y, folds)
    assert blind < 0.45
    # an unbalanced site: each category weighs the same, so the small one is not given up
    few = np.concatenate([np.zeros(100, int), np.ones(10, int)])
    x = np.concatenate([rng.normal(0, 1, (100, 4)), rng.normal(2.5, 1, (10, 4))])
    small, answer = fit_and_score(x, few, folds_by_group([str(n) for n in range(110)], 5, 0))
    assert (answer[few == 1] == 1).mean() >= 0.7 and small > 0.8


def test_depths_are_the_head_s_features_and_block_cuts() -> None:
    model = onnx.load(str(Path("models/binwatch.onnx")))
    names = depth_names(model, [0, 1, 3])
    assert names == [_gemm(model).input[0], cut_for(model, 1), cut_for(model, 3)]


def test_a_simulator_site_by_day_and_at_night(
    tmp_path: Path, waste_v1_rows: list[dict[str, str]]
) -> None:
    out = tmp_path / "separable.json"
    argv = ["--manifest", str(WASTE_V1 / "manifest.csv"), "--simulator", "24", "--blocks", "0",
            "2", "--folds", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text())
    for time in ("day", "night"):
        row = result[time]
        assert row["photos"] == 24 and 0.0 <= row["model_reads"] <= 1.0
        assert row["blocks_0"]["dim"] == 1280 and 0.0 <= row["blocks_0"]["macro_recall"] <= 1.0
        assert 0.0 <= row["blocks_2"]["macro_recall"] <= 1.0
    assert "night" in result["night"]["site"] and "night" not in result["day"]["site"]


def test_a_small_item_on_a_plain_floor_is_read_by_its_close_up() -> None:
    floor = np.clip(np.random.default_rng(0).normal(140, 3, (300, 400, 3)), 0, 255)
    photo = floor.astype(np.uint8)
    photo[130:170, 180:220] = (30, 60, 200)  # a red item, a tenth of the side
    crop = close_up(photo)
    assert crop.shape[0] == crop.shape[1] < 300  # a square round the item
    assert (crop == (30, 60, 200)).all(axis=2).mean() > 0.05
    busy = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    assert close_up(busy) is busy  # no plain floor: the photo itself
