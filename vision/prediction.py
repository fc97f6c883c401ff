"""What the classifier says about one crop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from vision.taxonomy import Category


class Box(BaseModel):
    """An axis-aligned box in frame pixels: left, top, width, height."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)


@dataclass(frozen=True)
class Prediction:
    """The model's reading of one crop under a taxonomy profile.

    `label` is the most probable fine label and `confidence` its probability; `category` is the
    label's category under the profile. `category_probabilities` sums the label probabilities per
    category (what verdicts use); `probabilities` is the full vector in the model's output order.

    A model with a `background` output also says how likely the crop holds no item at all:
    `background` is that probability, `is_background` whether it reached the model's threshold
    (such a crop is no item: no verdict, no event item). The label probabilities above are then
    those of the item outputs renormalised, i.e. what the item is if it is one.
    """

    label: str
    category: Category
    confidence: float
    category_probabilities: Mapping[Category, float]
    probabilities: npt.NDArray[np.float32] = field(repr=False)
    box: Box | None = None
    background: float = 0.0
    is_background: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        if set(self.category_probabilities) != set(Category):
            raise ValueError(
                "category_probabilities must have the four categories, got "
                f"{sorted(self.category_probabilities)}"
            )
        if not 0.0 <= self.background <= 1.0:
            raise ValueError(f"background must be in [0, 1], got {self.background}")
        if self.probabilities.ndim != 1:
            raise ValueError(f"probabilities must be 1-D, got shape {self.probabilities.shape}")


def items_only(predictions: Sequence[Prediction]) -> list[Prediction]:
    """The predictions of crops that hold an item (background crops dropped)."""
    return [p for p in predictions if not p.is_background]
