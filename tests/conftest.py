from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.tiny_model import write_tiny_model

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
WASTE_V1 = DATASETS / "waste-v1"
WASTE_EXTRA = DATASETS / "waste-extra-v1"


def shipped_version() -> str:
    """The model version of the shipped model (models/binwatch.onnx)."""
    import onnxruntime as ort

    from vision.metadata import parse_metadata
    from vision.shipped import shipped_model_path

    path = shipped_model_path()
    assert path is not None, "models/binwatch.onnx must ship with the package"
    props = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    return parse_metadata(props, str(path)).model_version


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX model file with valid binwatch metadata (see tests/tiny_model.py)."""
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="session")
def waste_v1_rows() -> list[dict[str, str]]:
    """The rows of ../shared/datasets/waste-v1/manifest.csv; skips when the data is absent."""
    manifest = WASTE_V1 / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"shared dataset not found at {manifest} (tests read it from ../shared)")
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
