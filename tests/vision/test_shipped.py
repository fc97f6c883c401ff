"""Finding the shipped model: beside the `vision` package, whatever `models` imports as."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from tests.conftest import REPO
from vision.shipped import SHIPPED_MODEL_NAME, shipped_model_path


def test_another_packages_models_folder_does_not_hide_the_shipped_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime's transformers put a `models` folder of theirs on sys.path; imported by that
    name in a console script (`binwatch retrain --from reviewed.zip`), it hid the shipped model."""
    (tmp_path / "models").mkdir()
    other = types.ModuleType("models")
    other.__path__ = [str(tmp_path / "models")]
    monkeypatch.setitem(sys.modules, "models", other)
    found = shipped_model_path()
    assert found == (REPO / "models" / SHIPPED_MODEL_NAME).resolve()
    assert found.is_file()
