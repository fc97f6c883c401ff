"""Int8 weight quantization: per-channel scales that minimise the rounding error."""

from __future__ import annotations

import numpy as np

from train.quantize import channel_scales


def _error(weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    flat = weight.reshape(weight.shape[0], -1)
    q = np.clip(np.round(flat / scale[:, None]), -127, 127)
    return np.asarray(((q * scale[:, None] - flat) ** 2).sum(axis=1))


def test_scales_never_worse_than_the_peak_and_clip_outliers() -> None:
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, size=(16, 8, 3, 3)).astype(np.float32)
    weight[3, 0, 0, 0] = 2.0  # one outlier in channel 3
    weight[5] = 0.0  # an all-zero channel
    scales = channel_scales(weight)
    peak = np.abs(weight.reshape(16, -1)).max(axis=1)
    plain = np.where(peak > 0, peak / 127, 1.0)
    assert scales.shape == (16,) and scales.dtype == np.float32
    assert np.all(_error(weight, scales) <= _error(weight, plain) + 1e-12)
    assert scales[5] == 1.0  # zero channel: any scale, no division by zero
    assert 0.5 * plain[3] <= scales[3] <= plain[3]
