"""The ML engineer's loop on a small slice of the shared photos, every step real:
binwatch train (with night pairs) → binwatch export (parity, int8) → binwatch evaluate →
binwatch classify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from tests.conftest import WASTE_V1
from train import export
from vision.classifier import Classifier

pytestmark = pytest.mark.dataset


def binwatch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "binwatch", *map(str, args)],
                            capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_train_export_evaluate_classify(
    tmp_path: Path, waste_v1_rows: list[dict[str, str]]
) -> None:
    manifest = WASTE_V1 / "manifest.csv"
    run = tmp_path / "run"
    binwatch("train", "--manifest", manifest, "--out", run, "--limit", "48", "--epochs", "2",
             "--samples-per-epoch", "96", "--views", "2", "--image-size", "96",
             "--trainable-blocks", "2", "--workers", "1", "--batch-size", "32",
             "--night-pairs", "1", "--pair-batch", "8")  # fmt: skip
    args = json.loads((run / "args.json").read_text())
    assert args["image_size"] == 96 and args["views"] == 2 and args["night_pairs"] == 1
    assert len((run / "log.jsonl").read_text().splitlines()) == 2

    model = tmp_path / "model.onnx"
    exported = binwatch("export", "--checkpoint", run / "checkpoint.pt", "--manifest", manifest,
                        "--out", model, "--version", "test-0.1", "--limit", "24",
                        "--calibration-images", "24", "--max-int8-drop", "100")  # fmt: skip
    assert "parity torch vs onnxruntime" in exported.stdout
    onnx.checker.check_model(str(model))
    classifier = Classifier(model)
    meta = classifier.metadata
    assert meta.model_version == "test-0.1" and len(meta.item_labels) == 12
    assert meta.labels[-1] == "background" and meta.reserved == ("background",)
    assert meta.schema_version == 2 and "test_empty_rejected" in meta.metrics
    assert meta.preprocess.input_size == (96, 96)
    assert meta.provenance.datasets[0].name == "waste-v1"
    assert meta.provenance.recipe["args"]["epochs"] == 2
    assert "test_category_accuracy" in meta.metrics
    # static int8 (the fastest form) keeps its head float, so `binwatch retrain` can start from
    # it (through its float graph): within the limit, export ships it
    assert "int8 static" in exported.stdout and "cannot start from it" not in exported.stdout
    assert "shipping int8 static" in exported.stdout and meta.quantization == "int8-static"
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(model)).graph.node)
    assert export.not_retrainable(model, 2) is None

    report = tmp_path / "report"
    binwatch(
        "evaluate", "--model", model, "--manifest", manifest, "--split", "val", "--out", report
    )
    data = json.loads((report / "report.json").read_text())
    assert data["images"] == sum(1 for r in waste_v1_rows if r["split"] == "val")
    assert len(data["category"]["confusion"]) == 4
    assert set(data["flags"]["by_bin"]) == {"recyclable", "hazardous", "kitchen", "other"}
    assert (report / "confusion.png").stat().st_size > 1000
    assert (report / "reliability.png").stat().st_size > 1000
    assert "Contamination flags" in (report / "report.md").read_text()

    image = WASTE_V1 / next(r["path"] for r in waste_v1_rows if r["split"] == "test")
    result = binwatch("classify", image, "--bin", "kitchen", "--model", model, "--json")
    assert json.loads(result.stdout)["model_version"] == "test-0.1"
