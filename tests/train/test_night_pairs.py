"""Night pairs (`binwatch train --night-pairs`): a daylight field view of each training image and
the same view as a night/IR camera sees it, cached through the frozen prefix, and a loss that
pulls the night view's prediction towards the day view's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from tests.train.mean_prefix import SPEC, coloured_photos, mean_prefix
from train.features import cache_night_pairs
from train.train import NightPairs, _pair_loss


def pairs(weight: float) -> NightPairs:
    empty = np.zeros((0,))
    return NightPairs(empty, empty, empty.astype(int), empty, weight)


def test_the_pull_is_zero_when_night_agrees_and_moves_only_the_night_view() -> None:
    criterion = nn.CrossEntropyLoss()
    y = torch.tensor([0, 2])
    same = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.3, 1.5]])
    agreed = _pair_loss(torch.cat([same, same]), y, criterion, pairs(5.0))
    assert torch.isclose(agreed, criterion(torch.cat([same, same]), torch.cat([y, y])))

    day = same.clone().requires_grad_(True)
    night = torch.tensor([[0.0, 2.0, 0.0], [1.0, 1.0, 0.0]], requires_grad=True)
    pulled = _pair_loss(torch.cat([day, night]), y, criterion, pairs(5.0))
    plain = _pair_loss(torch.cat([day, night]), y, criterion, pairs(0.0))
    assert pulled > plain  # night disagrees with day: the pull costs
    (grad_day,) = torch.autograd.grad(pulled - plain, day, retain_graph=True)
    (grad_night,) = torch.autograd.grad(pulled - plain, night)
    assert torch.count_nonzero(grad_day) == 0  # the day view is the teacher, not pulled
    assert grad_night.abs().sum() > 0


def test_cached_pairs_are_one_day_view_and_its_grey_twin(tmp_path: Path) -> None:
    session, samples, spec = mean_prefix(tmp_path), coloured_photos(tmp_path), SPEC
    day, night = cache_night_pairs(session, samples, spec, seed=3, workers=1)
    assert day.shape == night.shape == (3, 3, 1, 1) and day.dtype == np.float16
    channels = night[:, :, 0, 0].astype(np.float32)
    assert np.allclose(channels, channels[:, :1], atol=0.02)  # the twin is grey
    assert not np.allclose(day[:, :, 0, 0], day[:, :1, 0, 0], atol=0.02)  # the day has colour
    again = cache_night_pairs(session, samples, spec, seed=3, workers=1)
    np.testing.assert_array_equal(again[0], day)  # seeded: the same views every run
    np.testing.assert_array_equal(again[1], night)
