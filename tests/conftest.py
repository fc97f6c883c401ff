from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from tests.s3 import s3_endpoint  # noqa: F401  (a session fixture for every test folder)
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


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at the cheapest parameters for the suite (every test world signs in six users;
    at production cost that is most of the API tests' time). Tests of the hashing itself and of
    sign-in timing put the production hasher back (`production_hashing`)."""
    try:
        from argon2 import PasswordHasher

        import api.security
    except ImportError:  # an install without the service
        yield
        return
    api.security.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    api.security.HASHER = api.security.PRODUCTION


@pytest.fixture
def production_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.security

    monkeypatch.setattr(api.security, "HASHER", api.security.PRODUCTION)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX model file with valid binwatch metadata (see tests/tiny_model.py)."""
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="session")
def weights_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped network in the `int8-weights` form (int8 weights dequantized at load, float
    activations: lite0-waste-2.9's form), whatever form ships: what the retrain's int8
    write-back of tuned blocks is tested on."""
    import onnx

    from train.quantize import weights_form
    from vision.classifier import Classifier
    from vision.metadata import embed_metadata
    from vision.shipped import shipped_model_path

    shipped = shipped_model_path()
    assert shipped is not None, "no model ships in models/"
    metadata = Classifier(shipped).metadata
    if metadata.quantization == "int8-weights":
        return shipped
    model = weights_form(onnx.load(str(shipped)))
    embed_metadata(model, metadata.model_copy(update={"quantization": "int8-weights"}))
    path = tmp_path_factory.mktemp("weights") / "weights.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def waste_v1_rows() -> list[dict[str, str]]:
    """The rows of ../shared/datasets/waste-v1/manifest.csv; skips when the data is absent."""
    manifest = WASTE_V1 / "manifest.csv"
    if not manifest.is_file():
        no_datasets(f"shared dataset not found at {manifest} (tests read it from ../shared)")
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def rows_per_category(rows: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    """`count` test-split rows of each category (a seeded draw), categories in name order."""
    rng = np.random.default_rng(0)
    tests: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["split"] == "test":
            tests.setdefault(row["category"], []).append(row)
    return [rows_[i] for _, rows_ in sorted(tests.items())
            for i in rng.permutation(len(rows_))[:count]]  # fmt: skip
