"""`binwatch train --small-share`: the share reaches the augmenting worker processes, and
leaving it out is the shipped recipe's (`train.augment.SMALL_SHARE`) draw for draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.train.mean_prefix import SPEC, coloured_photos, mean_prefix
from train.augment import SMALL_SHARE
from train.features import cache_features
from train.train import get_args_parser


def test_the_share_reaches_the_workers_and_its_default_is_the_recipes(tmp_path: Path) -> None:
    session, samples, spec = mean_prefix(tmp_path), coloured_photos(tmp_path), SPEC

    default = cache_features(session, samples, spec, views=4, seed=5, workers=1)

    def cache(small_share: float) -> np.ndarray:
        return cache_features(session, samples, spec, views=4, seed=5, workers=1,
                              small_share=small_share)  # fmt: skip

    np.testing.assert_array_equal(default, cache(SMALL_SHARE))
    plain, small = cache(0.0), cache(1.0)  # 0: lite0-waste-2.5's draws
    np.testing.assert_array_equal(small[:3], plain[:3])  # the plain views are plain
    assert not np.array_equal(small[3:], plain[3:])


def test_the_cli_takes_a_share_from_0_to_1() -> None:
    parser = get_args_parser()
    base = ["--manifest", "m.csv", "--out", "runs/x"]
    assert parser.parse_args(base).small_share == SMALL_SHARE == 0.1
    assert parser.parse_args([*base, "--small-share", "0.1"]).small_share == 0.1
    for bad in ("-0.1", "1.5"):
        with pytest.raises(SystemExit):
            parser.parse_args([*base, "--small-share", bad])
