"""After the gate, every review (train.refit): a candidate that passed is fitted again on all the
reviewed photos and kept where it holds the base test; one that did not is left alone."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import train.refit as refit_module
import train.retrain as retrain_module
from tests.conftest import WASTE_EXTRA, WASTE_V1, no_datasets
from train.gate import verdict as gate_verdict
from train.head import read_head
from train.manifest import load_manifests
from train.retrain import RetrainOptions, held_back, retrain
from vision.classifier import Classifier

MANIFESTS = [WASTE_V1 / "manifest.csv", WASTE_EXTRA / "manifest.csv"]


def _reviewed(path: Path, per_category: int) -> Path:
    """Reviewed samples as the service exports them: waste-extra-v1 test photos, split train."""
    taken: dict[str, int] = {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "split", "category", "fine_label", "source", "group"])
        for s in load_manifests([WASTE_EXTRA / "manifest.csv"]).split("test"):
            assert s.category is not None
            if taken.get(s.category.value, 0) < per_category:
                taken[s.category.value] = taken.get(s.category.value, 0) + 1
                writer.writerow([s.path, "train", s.category.value, s.label, "review", s.group])
    return path


def _passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The gate says yes whatever the scores (what follows a pass is under test, not the gate:
    tests/train/test_head.py); the rows each fit of the head trained on, in order."""
    trained: list[int] = []
    real = gate_verdict

    def verdict(active: dict[str, Any], candidate: dict[str, Any], margin: float) -> Any:
        real(active, candidate, margin)
        return {"passed": True, "reasons": [], "base_test_drop": 0.0}

    real_fit = retrain_module.train_head

    def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, *rest: Any) -> Any:
        trained.append(len(y))
        return real_fit(x, y, w, *rest)

    monkeypatch.setattr(retrain_module, "verdict", verdict)
    monkeypatch.setattr(retrain_module, "train_head", fit)
    return trained


def test_a_passed_candidate_is_fitted_again_on_every_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights_model: Path
) -> None:
    if not all(m.is_file() for m in MANIFESTS):
        no_datasets(f"shared datasets not found under {WASTE_V1.parent} (tests read ../shared)")
    field = _reviewed(tmp_path / "reviewed.csv", 8)
    reviewed = load_manifests([field]).samples
    held = sum(held_back(s, 0.3) for s in reviewed)
    assert 0 < held < len(reviewed)
    trained = _passes(monkeypatch)
    out = tmp_path / "run"
    out.mkdir()
    # the head alone, a few steps; a margin no fit can miss, so the refit is kept
    options = RetrainOptions(steps=10, field_views=1, close_ups=0, tune_from=10_000, refit=1,
                             margin=1.0)  # fmt: skip
    report = retrain(weights_model, MANIFESTS, field, out, options, limit=60,
                     cache_dir=tmp_path / "c")  # fmt: skip
    refit = report["refit"]
    # the gated fit trained on the photos not held back, the refit on all of them: the same
    # base rows (each base photo twice: the head alone) and the held-back photos more
    base = 2 * report["recipe"]["base_train_images"]
    assert report["field"]["train"] == len(reviewed) - held == trained[0] - base
    assert refit["trained_on"] == len(reviewed) == trained[1] - base
    assert refit["adopted"] and not refit["reasons"]
    # the refit is candidate.onnx, the gated candidate kept beside it; they differ
    gated, candidate = out / "gated.onnx", out / "candidate.onnx"
    assert gated.is_file() and not (out / "refit" / "candidate.onnx").exists()
    gated_head, refit_head = (read_head(onnx.load(str(p))).weight for p in (gated, candidate))
    assert not np.allclose(gated_head, refit_head)
    # its metadata says what it was trained on and what the gate it rests on saw
    meta = Classifier(candidate).metadata
    assert meta.model_version == Classifier(gated).metadata.model_version
    made = meta.provenance.recipe["refit"]
    assert made["trained_on"] == len(reviewed) and made["gated_on"] == held
    assert made["gate_field_log_loss"] == pytest.approx(
        report["candidate"]["field_holdout"]["log_loss"]
    )
    # the refit's base test is its own, scored as the gate scores a candidate
    assert refit["base_test"]["images"] == report["candidate"]["base_test"]["images"]
    assert json.loads((out / "report.json").read_text())["refit"]["adopted"]
    assert "The refit is `candidate.onnx`" in (out / "report.md").read_text()


def test_a_refit_that_loses_the_base_test_leaves_the_gated_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights_model: Path
) -> None:
    if not all(m.is_file() for m in MANIFESTS):
        no_datasets(f"shared datasets not found under {WASTE_V1.parent} (tests read ../shared)")
    field = _reviewed(tmp_path / "reviewed.csv", 4)
    _passes(monkeypatch)
    lost = (["base test category accuracy drops 2.00 points"], 0.02)
    monkeypatch.setattr(refit_module, "base_reasons", lambda *_: lost)
    out = tmp_path / "run"
    out.mkdir()
    options = RetrainOptions(steps=5, field_views=1, close_ups=0, tune_from=10_000, refit=1)
    report = retrain(weights_model, MANIFESTS, field, out, options, limit=40,
                     cache_dir=tmp_path / "c")  # fmt: skip
    assert not report["refit"]["adopted"]
    assert not (out / "gated.onnx").exists() and (out / "refit" / "candidate.onnx").is_file()
    assert "refit" not in Classifier(out / "candidate.onnx").metadata.provenance.recipe
    assert (
        "**The refit was not adopted** (base test category accuracy drops"
        in (out / "report.md").read_text()
    )


def test_a_candidate_the_gate_refuses_is_not_refitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[float] = []

    def once(*args: Any) -> dict[str, Any]:
        runs.append(args[4].field_holdout)
        return {"decision": {"passed": False, "reasons": ["field log loss is not lower"]}}

    monkeypatch.setattr(retrain_module, "_retrain_once", once)
    report = retrain(tmp_path / "a.onnx", [], tmp_path / "r.csv", tmp_path, RetrainOptions(refit=1))
    assert runs == [0.3] and "refit" not in report
    with pytest.raises(ValueError, match="refit is 0 or 1"):
        RetrainOptions(refit=2)


def test_binwatch_retrain_asks_for_a_refit_as_the_recipe_does() -> None:
    import argparse

    from binwatch.retrain_cli import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    needed = ["--from", "r.zip", "--manifest", "m.csv", "--out", "runs/x"]
    assert parser.parse_args(needed).refit == RetrainOptions.refit
    assert parser.parse_args([*needed, "--refit", "0"]).refit == 0
    assert parser.parse_args([*needed, "--refit", "1"]).refit == 1
