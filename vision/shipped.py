"""Where the model that ships with binwatch lives (the `models` package data)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED_MODEL_NAME = "binwatch.onnx"


def shipped_model_path() -> Path | None:
    """The shipped model file, or None while no trained model ships."""
    try:
        candidate = resources.files("models").joinpath(SHIPPED_MODEL_NAME)
    except ModuleNotFoundError:
        return None
    return Path(str(candidate)) if candidate.is_file() else None
