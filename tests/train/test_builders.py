from __future__ import annotations

import pytest
import torch

from train.builders import _imagenet_lite0_state, build
from train.features import split_lite0


def test_lite0_carries_the_imagenet_weights() -> None:
    built = build("efficientnet_lite0", 12)
    source = list(_imagenet_lite0_state().values())
    state = built.model.state_dict()
    keys = list(state)
    for key in ("conv_stem.weight", "blocks.3.1.conv_dw.weight", "blocks.6.0.conv_pwl.weight"):
        assert torch.equal(state[key], source[keys.index(key)])
    assert state["classifier.weight"].shape == (12, 1280)  # a new head
    assert built.mean == built.std == (0.5, 0.5, 0.5)


def test_unknown_builder() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet9'"):
        build("resnet9", 4)


def test_prefix_and_tail_compose_to_the_network() -> None:
    model = build("efficientnet_lite0", 5, pretrained=False).model.eval()
    prefix, tail = split_lite0(model, 3)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(tail.eval()(prefix.eval()(x)), model(x), atol=1e-5, rtol=1e-4)
    trainable = sum(p.numel() for p in tail.parameters())
    assert 0 < trainable < sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="trainable_blocks must be in"):
        split_lite0(model, 99)
