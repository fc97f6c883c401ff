from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NoReturn

import pytest

from tests.tiny_model import write_tiny_model

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
WASTE_V1 = DATASETS / "waste-v1"
WASTE_EXTRA = DATASETS / "waste-extra-v1"


def no_datasets(message: str) -> NoReturn:
    """Skip a test that needs ../shared/datasets, or fail it where they must be there
    (`.ci/run` sets BINWATCH_TEST_REQUIRE_DATASETS=1, as it does for PostgreSQL and the browser)."""
    if os.environ.get("BINWATCH_TEST_REQUIRE_DATASETS") == "1":
        pytest.fail(f"{message}; BINWATCH_TEST_REQUIRE_DATASETS=1 requires the shared datasets")
    pytest.skip(message)


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
        no_datasets(f"shared dataset not found at {manifest} (tests read it from ../shared)")
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
