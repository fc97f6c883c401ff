"""The last blocks rebuilt as torch from an ONNX file's own weights (train.tail): the same numbers
as ONNX Runtime, written back in the form they came in, and retraining through them."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import train.retrain as retrain_module
from tests.conftest import WASTE_EXTRA, WASTE_V1, no_datasets
from tests.tiny_model import build_tiny_model
from train.augment import SMALL_SHARE, draw_floor, place_on_background
from train.gate import compare
from train.grey_head import read_grey_head
from train.head import read_head
from train.manifest import load_manifests
from train.retrain import RetrainOptions, retrain
from train.tail import TailModule, boundaries, cut_for, with_outputs, write_tail
from train.views import close_up_boxes
from vision.classifier import Classifier, session_options
from vision.errors import ModelError
from vision.imageio import read_image


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(
        model.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"]
    )


def _dequantizers(model: onnx.ModelProto) -> int:
    return sum(n.op_type == "DequantizeLinear" for n in model.graph.node)


@pytest.fixture(scope="module")
def shipped(weights_model: Path) -> onnx.ModelProto:
    """The shipped network with int8 weights and float activations (conftest.weights_model)."""
    return onnx.load(str(weights_model))


def test_the_blocks_before_the_head_are_found(shipped: onnx.ModelProto) -> None:
    found = boundaries(shipped)
    # EfficientNet-Lite0: the final convolution's input, then one boundary per block backwards
    assert found[0].endswith("blocks.6.0/conv_pwl/Conv_output_0")
    assert found[1].endswith("blocks.5.3/Add_output_0")
    assert len(found) >= 10
    with pytest.raises(ModelError, match="block boundaries"):
        cut_for(shipped, len(found) + 1)
    with pytest.raises(ModelError, match="0 block boundaries"):
        cut_for(build_tiny_model(), 1)  # pooling straight into the head: nothing to tune


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_torch_tail_is_the_onnx_graph(shipped: onnx.ModelProto, blocks: int) -> None:
    cut = cut_for(shipped, blocks)
    tail = TailModule(shipped, cut)
    x = np.random.default_rng(blocks).normal(size=(3, 3, 224, 224)).astype(np.float32)
    logits, at_cut, feats = _session(with_outputs(shipped, [cut, tail.features])).run(
        None, {"image": x}
    )
    with torch.no_grad():
        mine = tail(torch.from_numpy(at_cut)).numpy()
    assert np.abs(mine - feats).max() < 1e-4
    head = read_head(shipped)
    assert np.abs(mine @ head.weight.T + head.bias - logits).max() < 1e-3

    # moved weights go back as int8 (same tensors, same size), and torch follows the file
    with torch.no_grad():
        for param in tail.params.values():
            param.mul_(1.05).add_(0.001)
    written = write_tail(shipped, tail)
    assert _dequantizers(written) == _dequantizers(shipped)
    assert abs(len(written.SerializeToString()) - len(shipped.SerializeToString())) < 1024
    (again,) = _session(with_outputs(written, [tail.features])).run([tail.features], {"image": x})
    with torch.no_grad():
        now = tail(torch.from_numpy(at_cut)).numpy()
    assert np.abs(now - again).max() < 1e-3
    assert np.abs(again - feats).max() > 1e-2  # the weights did move


@pytest.mark.parametrize("blocks", [1, 2])
def test_a_static_files_tail_rounds_as_the_file(blocks: int) -> None:
    """A static int8 file (the shipped one): its boundaries are the rounded tensors between
    blocks, torch runs the tail's activation rounding as fake quantization at the file's scales
    (one rounding step apart on a few values, where ONNX Runtime's int8 kernels round a tie the
    other way), and moved weights go back as int8 with int32 biases at the new scales."""
    from vision.shipped import shipped_model_path

    path = shipped_model_path()
    assert path is not None and Classifier(path).metadata.quantization == "int8-static"
    static = onnx.load(str(path))
    found = boundaries(static)
    assert found[0].endswith("blocks.6.0/conv_pwl/Conv_output_0_DequantizeLinear_Output")
    assert found[1].endswith("blocks.5.3/Add_output_0_DequantizeLinear_Output")
    cut = cut_for(static, blocks)
    tail = TailModule(static, cut)
    assert sum(n.op_type == "QuantizeLinear" for n in tail.nodes) >= 3 * blocks
    x = np.random.default_rng(blocks).normal(size=(3, 3, 224, 224)).astype(np.float32)
    at_cut, feats = _session(with_outputs(static, [cut, tail.features])).run(
        [cut, tail.features], {"image": x}
    )
    with torch.no_grad():
        mine = tail(torch.from_numpy(at_cut)).numpy()
    assert np.mean(np.abs(mine - feats) > 1e-5) < 0.01
    assert np.abs(mine - feats).max() < 0.05

    with torch.no_grad():
        for param in tail.params.values():
            param.mul_(1.05).add_(0.001)
    written = write_tail(static, tail)
    types = {i.name: i.data_type for i in written.graph.initializer}
    assert types == {i.name: i.data_type for i in static.graph.initializer}  # int8, int32 kept
    assert abs(len(written.SerializeToString()) - len(static.SerializeToString())) < 1024
    (again,) = _session(with_outputs(written, [tail.features])).run([tail.features], {"image": x})
    with torch.no_grad():
        now = tail(torch.from_numpy(at_cut)).numpy()
    assert np.mean(np.abs(now - again) > 1e-5) < 0.01
    assert np.abs(again - feats).max() > 0.05  # the weights did move
    # the fake quantization passes gradients inside the range, none outside
    x_grad = torch.from_numpy(at_cut[:1]).requires_grad_(True)
    tail(x_grad).sum().backward()
    assert x_grad.grad is not None and torch.count_nonzero(x_grad.grad) > 0
    # an activation rounded per channel is not what fake quantization rebuilds: refused
    odd = copy.deepcopy(static)
    rounding = next(n for n in tail.nodes if n.op_type == "QuantizeLinear")
    scale = next(i for i in odd.graph.initializer if i.name == rounding.input[1])
    scale.CopyFrom(numpy_helper.from_array(np.array([0.1, 0.2], np.float32), scale.name))
    with pytest.raises(ModelError, match="per channel"):
        TailModule(odd, cut)


def _float_model() -> onnx.ModelProto:
    """Two float convolutions (asymmetric padding, stride 2, ReLU) and a residual add."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32) * 0.3, "w1"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32) * 0.1, "b1"),
        numpy_helper.from_array(rng.normal(size=(4, 4, 1, 1)).astype(np.float32) * 0.3, "w2"),
        numpy_helper.from_array(rng.normal(size=(4, 4, 1, 1)).astype(np.float32) * 0.3, "w3"),
        numpy_helper.from_array(rng.normal(size=(2, 4)).astype(np.float32), "hw"),
        numpy_helper.from_array(np.zeros(2, np.float32), "hb"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[0, 0, 1, 1], strides=[2, 2]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["c3"]),
        helper.make_node("Add", ["c3", "c1"], ["sum"]),
        helper.make_node("GlobalAveragePool", ["sum"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "hw", "hb"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 9, 9])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_float_weights_and_other_ops() -> None:
    model = _float_model()
    assert boundaries(model) == ["sum", "c1"]  # c2 is read by an activation: not a boundary
    x = np.random.default_rng(1).normal(size=(2, 3, 9, 9)).astype(np.float32)
    tail = TailModule(model, cut_for(model, 2))
    c1, feats = _session(with_outputs(model, ["c1", "flat"])).run(["c1", "flat"], {"image": x})
    with torch.no_grad():
        assert np.abs(tail(torch.from_numpy(c1)).numpy() - feats).max() < 1e-5
        for param in tail.params.values():
            param.add_(0.5)
    written = write_tail(model, tail)
    (again,) = _session(with_outputs(written, ["flat"])).run(["flat"], {"image": x})
    with torch.no_grad():
        assert np.abs(tail(torch.from_numpy(c1)).numpy() - again).max() < 1e-5


def test_an_op_torch_cannot_rebuild_is_refused() -> None:
    model = _float_model()
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    relu.op_type = "Softsign"
    with pytest.raises(ModelError, match="cannot rebuild Softsign"):
        TailModule(model, "c1")


def _field_manifest(path: Path, per_category: int, empties: int = 0, small: int = 0) -> Path:
    """Reviewed samples as the service exports them: waste-extra-v1 test photos, split train,
    `empties` drawn floors a reviewer named `background` (no item), and `small` of the photos
    again, small on a plain grey floor (a whole frame `binwatch classify` reads close up)."""
    samples = load_manifests([WASTE_EXTRA / "manifest.csv"]).split("test")
    taken: dict[str, int] = {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "split", "category", "fine_label", "source", "group"])
        for n, s in enumerate(samples[:: max(1, len(samples) // max(1, small))][:small]):
            assert s.category is not None
            frame = path.parent / f"small-{n}.jpg"

            def grey(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
                return np.clip(rng.normal(140, 3, (h, w, 3)), 0, 255).astype(np.uint8)

            photo = place_on_background(read_image(s.path), np.random.default_rng(n),
                                        ground=grey, size=(0.2, 0.3))  # fmt: skip
            cv2.imwrite(str(frame), photo)
            writer.writerow([frame.name, "train", s.category.value, s.label, "review", f"sm-{n}"])
        for n in range(empties):
            crop = path.parent / f"empty-{n}.jpg"
            cv2.imwrite(str(crop), draw_floor(np.random.default_rng(n), 160, 160))
            writer.writerow([crop.name, "train", "", "background", "review", f"empty-{n}"])
        for s in samples:
            assert s.category is not None
            if taken.get(s.category.value, 0) >= per_category:
                continue
            taken[s.category.value] = taken.get(s.category.value, 0) + 1
            writer.writerow([s.path, "train", s.category.value, s.label, "review", s.group])
    return path


def test_retrain_tunes_blocks_and_its_numbers_are_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights_model: Path
) -> None:
    if not (WASTE_V1 / "manifest.csv").is_file() or not (WASTE_EXTRA / "manifest.csv").is_file():
        no_datasets(f"shared datasets not found under {WASTE_V1.parent} (tests read ../shared)")
    active = weights_model  # int8 weights, float activations: blocks written back int8
    manifests = [WASTE_V1 / "manifest.csv", WASTE_EXTRA / "manifest.csv"]
    field = _field_manifest(tmp_path / "reviewed.csv", 12, empties=5)
    options = RetrainOptions(steps=30, tail_steps=25, field_views=2, tune_blocks=-1, tune_from=20)
    out = tmp_path / "run"
    out.mkdir()
    report = retrain(active, manifests, field, out, options, limit=60, cache_dir=tmp_path / "c")
    assert report["recipe"]["tuned_blocks"] == 2  # enough reviews: the default tunes blocks
    assert report["field"]["train_grey_share"] < 0.5  # colour reviews (a few empty crops)
    assert (
        f"{report['field']['train_grey_share']:.0%} of them grey frames"
        in (out / "report.md").read_text()
    )
    # crops reviewed as "no item" train the background output (empty-3 is held back: its
    # event id draws under the 30 %) and are scored apart from the items
    assert report["field"]["no_item_train"] == 4 and not report["field"]["labels_the_model_lacks"]
    assert report["candidate"]["field_holdout"]["no_item"]["crops"] == 1
    assert "empty crops answered" in (out / "report.md").read_text()
    # the held-back item photos, right of photos per category, add up to those held back
    right = report["candidate"]["field_holdout"]["category_right"]
    assert sum(photos for _, photos in right.values()) == report["field"]["held_back"] - 1
    assert "Held-back reviews by category" in (out / "report.md").read_text()
    candidate = out / "candidate.onnx"
    # int8 blocks stay int8; only the head grows, written as float32 (14 × 1280 × 3 bytes)
    assert abs(candidate.stat().st_size - active.stat().st_size) < 60_000
    body = onnx.load(str(candidate))
    assert _dequantizers(body) == _dequantizers(onnx.load(str(active))) - 1  # head is float
    # the grey correction is kept at the candidate's temperature, which was fitted with it
    tempered, before = read_grey_head(body), read_grey_head(onnx.load(str(active)))
    assert tempered is not None and before is not None
    temperature = report["recipe"]["temperature"]
    assert tempered.weight == pytest.approx(before.weight / temperature, rel=1e-5, abs=1e-7)
    assert tempered.bias == pytest.approx(before.bias / temperature, rel=1e-5, abs=1e-7)
    # the base test numbers came from cached activations through the torch tail: the file
    # itself, run whole through the shared classifier, gives the same
    base_test = report["candidate"]["base_test"]
    test = load_manifests(manifests).split("test")
    samples = test[:: max(1, len(test) // 60)]
    direct = compare(candidate, samples, [])["base_test"]
    assert direct["images"] == base_test["images"]
    assert direct["category_accuracy"] == pytest.approx(base_test["category_accuracy"], abs=1e-9)
    assert direct["log_loss"] == pytest.approx(base_test["log_loss"], abs=2e-3)

    kept = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "c").glob("*-*cut-*.npz"))
    # tuned blocks re-fit on base train as it is (val in the threshold views): with the
    # training's views too they read a site worse (bench/results/adapt-simulator-base-views.json)
    assert [name.rsplit("cut-", 1)[0] for name in kept] == ["", "night-", "placed-"]
    # the shipped model has a grey head: which base photos (and val views) it reads as grey
    # frames is cached beside the features, so a warm retrain does not read them again
    grey = {p.name.split("-", 1)[1] for p in (tmp_path / "c").glob("*-grey*.npz")}
    assert grey == {"grey.npz", "grey-night.npz", "grey-placed.npz"}
    assert report["recipe"]["base_views"] == 1
    few = RetrainOptions(steps=10, field_views=1, tune_from=10_000, refit=0)  # one fit
    out3 = tmp_path / "run3"
    out3.mkdir()
    field = _field_manifest(out3 / "reviewed.csv", 12, empties=5, small=8)
    fitted: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    real_fit = retrain_module.train_head

    def spy(x: np.ndarray, y: np.ndarray, w: np.ndarray, *rest: Any) -> Any:
        fitted.append((x, y, w))
        # start, options, then the grey head's correction and the rows it reads as grey
        _, _, delta, flags, *_ = rest
        assert delta is not None and flags is not None and flags.shape == y.shape
        return real_fit(x, y, w, *rest)

    monkeypatch.setattr(retrain_module, "train_head", spy)
    head_only = retrain(active, manifests, field, out3, few, limit=60, cache_dir=tmp_path / "c")
    assert head_only["recipe"]["tuned_blocks"] == 0  # too few reviews: the head alone
    assert head_only["recipe"]["base_views"] == 2  # ... which re-fits on the training's views too
    views = {
        p.name.split("-", 1)[1] for p in (tmp_path / "c").glob(f"*train1-small{SMALL_SHARE:g}.npz")
    }
    assert views == {f"train1-small{SMALL_SHARE:g}.npz", f"grey-train1-small{SMALL_SHARE:g}.npz"}
    # the head re-fits on each base train photo twice (as it is, as training draws it), the two
    # halves the same labels, different features; each photo kept under the limit weighs for
    # the train photos it skipped, so the field weighs against the base as in a full retrain
    ((x, y, w),) = fitted
    base, field_train = head_only["recipe"]["base_train_images"], head_only["field"]["train"]
    close = head_only["recipe"]["field_close_ups"]
    assert len(x) == 2 * base + field_train + close
    assert (y[:base] == y[base : 2 * base]).all() and not np.allclose(x[:base], x[base : 2 * base])
    # the reviewed frames binwatch classify reads close up train the head on that close-up too:
    # the small items on the grey floor (those not held back), each its photo's label, the
    # photo's weight split over its two views
    reviewed = load_manifests([field]).samples
    trained = [s for s in reviewed if not retrain_module.held_back(s, few.field_holdout)]
    chosen = [s for s, _ in close_up_boxes(trained, Classifier(active))]
    small_kept = sum("sm-" in s.group for s in trained)
    assert close == len(chosen) >= small_kept - 1 and small_kept >= 4
    labels = list(Classifier(active).labels)
    assert [labels[i] for i in y[-close:]] == [s.label for s in chosen]
    assert w[-close:] == pytest.approx(np.full(close, few.field_weight / 2))
    every = load_manifests(manifests).split("train")
    stands_for = len(every) / len(every[:: len(every) // 60])
    assert head_only["recipe"]["base_photo_weight"] == pytest.approx(stands_for) and stands_for > 50
    assert w[: 2 * base].sum() == pytest.approx(base * stands_for, rel=1e-6)
    assert w[2 * base :].sum() == pytest.approx(few.field_weight * field_train, rel=1e-6)
    for wrong in (0, 5):  # refused as the options are made, before a minute of work
        with pytest.raises(ValueError, match="base_views is 1 to 4"):
            RetrainOptions(base_views=wrong)


def test_export_refuses_a_form_retrain_cannot_start_from(
    shipped: onnx.ModelProto, tmp_path: Path
) -> None:
    from train.export import not_retrainable
    from vision.shipped import shipped_model_path

    path = tmp_path / "shipped.onnx"
    onnx.save(shipped, str(path))
    assert not_retrainable(path, 2) is None
    static = shipped_model_path()  # static int8: retrained in its own graph and its float one
    assert static is not None and not_retrainable(static, 2) is None
    # a static int8 form with QuantizeLinear/DequantizeLinear after the classifier (as
    # `binwatch export` made it until 2026-12-05): the logits are rounded, no Gemm output
    quantized = copy.deepcopy(shipped)
    logits = quantized.graph.output[0].name
    for node in quantized.graph.node:
        node.output[:] = ["gemm_out" if o == logits else o for o in node.output]
    quantized.graph.initializer.extend([
        numpy_helper.from_array(np.array(0.1, np.float32), "q_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "q_zero"),
    ])  # fmt: skip
    quantized.graph.node.extend([
        helper.make_node("QuantizeLinear", ["gemm_out", "q_scale", "q_zero"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "q_scale", "q_zero"], [logits]),
    ])  # fmt: skip
    onnx.save(quantized, str(path))
    assert "its logits are quantized" in (not_retrainable(path, 2) or "")
    onnx.save(build_tiny_model(), str(path))  # a head but no blocks to tune
    assert not_retrainable(path, 0) is None
    assert "0 block boundaries" in (not_retrainable(path, 2) or "")


def test_a_soup_is_the_mean_of_its_fits_each_from_the_start() -> None:
    """`train.tail_fit.soup`: every fit starts where the blocks started, the tail ends at the
    mean of the fits' parameters and the head at the mean head; one fit is the fit itself."""
    from train.tail_fit import soup

    tail = TailModule(_float_model(), cut_for(_float_model(), 2))
    start = {k: p.detach().clone() for k, p in tail.params.items()}
    seen: list[int] = []

    def fit(seed: int) -> tuple[np.ndarray, np.ndarray]:
        for k, p in tail.params.items():  # each fit from the start, moved by its seed
            assert torch.equal(p.detach(), start[k])
            with torch.no_grad():
                p.add_(float(seed))
        seen.append(seed)
        return np.full((2, 4), seed, np.float32), np.full(2, 2 * seed, np.float32)

    weight, bias = soup(tail, 3, fit, 5)
    assert seen == [5, 6, 7]
    assert np.allclose(weight, 6.0) and np.allclose(bias, 12.0)
    for k, p in tail.params.items():
        assert torch.allclose(p.detach(), start[k] + 6.0)
    seen.clear()
    for k, p in tail.params.items():
        with torch.no_grad():
            p.copy_(start[k])
    weight, bias = soup(tail, 1, fit, 2)
    assert seen == [2] and np.allclose(weight, 2.0)
    with pytest.raises(ValueError, match="soup"):
        RetrainOptions(soup=0)
