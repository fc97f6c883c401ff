"""The static int8 form (train.quantize.static_form) of the shipped model, and `binwatch
retrain` from such a file: in its own graph, or through its float graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.conftest import WASTE_EXTRA, WASTE_V1, no_datasets
from tests.train.test_tail import _field_manifest
from train.graph import strip_activation_qdq
from train.head import read_head
from train.manifest import load_manifests
from train.quantize import float_view, static_form
from train.retrain import RetrainOptions, retrain
from vision.classifier import Classifier
from vision.shipped import shipped_model_path

MANIFESTS = [WASTE_V1 / "manifest.csv", WASTE_EXTRA / "manifest.csv"]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _categories(path: Path, photos: list[np.ndarray]) -> list[object]:
    classifier = Classifier(path)
    return [p.category for p in classifier.classify(photos)]


@pytest.fixture(scope="module")
def static_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not all(m.is_file() for m in MANIFESTS):
        no_datasets(f"shared datasets not found under {WASTE_V1.parent} (tests read ../shared)")
    shipped = shipped_model_path()
    assert shipped is not None
    train = load_manifests(MANIFESTS).split("train")
    calibration = train[:: len(train) // 48][:48]
    path = tmp_path_factory.mktemp("static") / "static.onnx"
    static_form(onnx.load(str(shipped)), path, calibration, Classifier(shipped).metadata)
    return path


def test_the_static_form_reads_as_the_shipped_file(static_file: Path) -> None:
    from vision.imageio import read_image

    shipped = shipped_model_path()
    assert shipped is not None
    model = onnx.load(str(static_file))
    assert Classifier(static_file).metadata.quantization == "int8-static"
    assert _ops(model).count("QuantizeLinear") > 40  # activations are int8 between the layers
    # what follows the features stays float: the logits are never rounded to uint8
    head = read_head(float_view(model))
    assert head.weight.shape[0] == len(Classifier(shipped).labels)
    output = model.graph.output[0].name
    assert next(n for n in model.graph.node if output in n.output).op_type != "DequantizeLinear"
    assert static_file.stat().st_size < 5_000_000
    test = load_manifests(MANIFESTS).split("test")
    photos = [read_image(s.path) for s in test[:: len(test) // 60][:60]]
    same = np.mean(
        [a == b for a, b in zip(_categories(static_file, photos), _categories(shipped, photos),
                                strict=True)]
    )  # fmt: skip
    assert same >= 0.95, f"the static form answers {100 * same:.0f} % of photos as the shipped"
    # stripped of its activation rounding it is a float graph again
    assert "QuantizeLinear" not in _ops(strip_activation_qdq(model))


def _activation_scales(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[1]: inits[n.input[1]] for n in model.graph.node
            if n.op_type == "QuantizeLinear"}  # fmt: skip


def test_retrain_from_a_static_file(static_file: Path, tmp_path: Path) -> None:
    """By default the candidate is fitted on the static file's own int8 activations and
    written back into its graph (its activation ranges kept), tuning blocks or the head alone;
    `static_candidate=0` fits through the float graph and writes the int8-weights form, 1
    quantizes that fit statically again."""
    field = _field_manifest(tmp_path / "reviewed.csv", 12, empties=3)
    parent = onnx.load(str(static_file))
    for name, options in (
        ("head", RetrainOptions(steps=10, field_views=1, tune_from=10_000)),
        ("tail", RetrainOptions(steps=10, tail_steps=5, field_views=1, tune_blocks=2)),
        ("weights", RetrainOptions(steps=10, field_views=1, tune_from=10_000, static_candidate=0)),
        ("again", RetrainOptions(steps=10, tail_steps=5, field_views=1, tune_blocks=1,
                                 static_candidate=1)),
    ):  # fmt: skip
        out = tmp_path / name
        out.mkdir()
        report = retrain(static_file, MANIFESTS, field, out, options, limit=60)
        assert report["recipe"]["tuned_blocks"] == {"tail": 2, "again": 1}.get(name, 0)
        form = {"weights": "int8-weights", "again": "int8-static again"}.get(name, "int8-static,")
        assert report["recipe"]["form"].startswith(form)
        assert report["recipe"]["form"] in (out / "report.md").read_text()
        candidate = out / "candidate.onnx"
        model = onnx.load(str(candidate))
        ops = _ops(model)
        if name == "weights":
            assert Classifier(candidate).metadata.quantization == "int8-weights"
            assert "QuantizeLinear" not in ops and ops.count("DequantizeLinear") > 20
        else:
            assert Classifier(candidate).metadata.quantization == "int8-static"
            assert ops.count("QuantizeLinear") == _ops(parent).count("QuantizeLinear")
        if name in ("head", "tail"):  # in the parent's own graph: its activation ranges kept
            assert _activation_scales(model).keys() == _activation_scales(parent).keys()
            assert all(np.array_equal(v, _activation_scales(parent)[k])
                       for k, v in _activation_scales(model).items())  # fmt: skip
            assert read_head(model).weight.shape == read_head(parent).weight.shape
            assert not np.allclose(read_head(model).weight, read_head(parent).weight)
        assert not (out / "parent-float.onnx").exists()  # the float graph was a working copy
        # the candidate keeps about the parent's size (int8 weights; the int8-weights form keeps
        # the depthwise convolutions and the head float: 0.24 MB more), and both files ran whole on
        # base test: the gate judged what a camera would run
        assert abs(candidate.stat().st_size - static_file.stat().st_size) < 300_000
        parent_test, child = report["active"]["base_test"], report["candidate"]["base_test"]
        assert parent_test["images"] == child["images"] > 0
        assert abs(parent_test["category_accuracy"] - child["category_accuracy"]) < 0.1
        # the photos it answers differently add up to the change in accuracy, and the report
        # lists them
        moved = {e: sum(c["photos"] for c in report["base_test_changes"] if c["effect"] == e)
                 for e in ("lost", "gained")}  # fmt: skip
        n = child["images"]
        assert moved["lost"] - moved["gained"] == round(
            n * (parent_test["category_accuracy"] - child["category_accuracy"])
        )
        assert ("answers differently" in (out / "report.md").read_text()) == bool(
            report["base_test_changes"]
        )
