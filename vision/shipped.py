"""Where the model that ships with binwatch lives (the `models` package data)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SHIPPED_MODEL_NAME = "binwatch.onnx"


def shipped_model_path() -> Path | None:
    """The shipped model file, or None while no trained model ships.

    `models` is installed beside `vision` (a wheel's site-packages, or this repository in an
    editable install), so it is looked for there first: importing the name `models` can find
    another package's folder of that name (onnxruntime's transformers put theirs on `sys.path`,
    and a console script has no repository root before it)."""
    beside = Path(__file__).resolve().parent.parent / "models" / SHIPPED_MODEL_NAME
    if beside.is_file():
        return beside
    try:
        spec = importlib.util.find_spec("models")
    except (ImportError, ValueError):  # a `models` module without a spec
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / SHIPPED_MODEL_NAME
        if candidate.is_file():
            return candidate
    return None
