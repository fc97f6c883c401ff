"""The grey tail (train.grey_tail): a second copy of the last block that the file takes for grey
frames only, written int8 at the parent's activation scales, computing what its torch copy
computes, removable whole, kept by the float graph and the int8-weights form, trained with only
the blocks before the final convolution moving (train.grey_tail_fit), and tuned by a retrain
together with the colour copy, each reviewed photo through the copy the file takes for it."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.conftest import WASTE_EXTRA, WASTE_V1, no_datasets
from tests.train.cut_rows import cut_rows
from tests.train.test_tail import _field_manifest
from train.grey_head import drop_grey_head, read_grey_head, save_step
from train.grey_tail import (
    GREY_FLAG,
    PREFIX,
    add_grey_tail,
    drop_grey_tail,
    has_grey_tail,
    switched_tensor,
)
from train.grey_tail_fit import GreyTailOptions, PairedViews, fit_grey_tail
from train.head import read_head, with_features
from train.manifest import load_manifests
from train.quantize import float_view, weights_form
from train.retrain import RetrainOptions, retrain
from train.tail import TailModule, boundaries, cut_for, with_outputs
from vision.classifier import Classifier, session_options
from vision.errors import ModelError
from vision.imageio import read_image
from vision.metadata import embed_metadata
from vision.preprocess import preprocess
from vision.shipped import shipped_model_path


@pytest.fixture(scope="module")
def static() -> onnx.ModelProto:
    path = shipped_model_path()
    assert path is not None and Classifier(path).metadata.quantization == "int8-static"
    return onnx.load(str(path))


def _images() -> list[np.ndarray]:
    """Three colour frames and the same three as a night camera sends them (grey)."""
    rng = np.random.default_rng(3)
    colour = [
        cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (9, 9), 3)
        for _ in range(3)
    ]
    grey = [np.repeat(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY)[:, :, None], 3, 2) for c in colour]
    return colour + grey


def _run(model: onnx.ModelProto, *extra: str) -> list[np.ndarray]:
    graph = with_outputs(with_features(model), list(extra))
    session = ort.InferenceSession(
        graph.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"]
    )
    spec = Classifier(shipped_model_path()).metadata.preprocess  # type: ignore[arg-type]
    found: list[np.ndarray] = session.run(None, {"image": preprocess(_images(), spec, "bgr")})
    return found


def _moved_copy(static: onnx.ModelProto, blocks: int = 2) -> TailModule:
    plain = drop_grey_head(static)
    grey = TailModule(plain, cut_for(plain, blocks))
    final = next(n for n in reversed(grey.nodes) if n.op_type == "Conv")
    with torch.no_grad():  # the final convolution is shared by both paths
        for name, key in grey.keys.items():
            if name not in final.input:
                grey.params[key].mul_(1.1).add_(0.002)
    return grey


def test_grey_frames_read_through_the_copy_and_colour_frames_as_before(
    static: onnx.ModelProto,
) -> None:
    delta = read_grey_head(static)
    assert delta is not None
    grey = _moved_copy(static)
    model = add_grey_tail(static, grey, delta.threshold)
    assert has_grey_tail(model) and not has_grey_tail(static)
    # the switch is on the rounded uint8 tensor the final convolution's DequantizeLinear reads,
    # so ONNX Runtime still fuses that convolution into its int8 kernel
    switched = switched_tensor(static, boundaries(static)[0])
    assert switched.endswith("_QuantizeLinear_Output")
    readers = [n for n in model.graph.node if PREFIX + "selected" in n.input]
    assert [n.op_type for n in readers] == ["DequantizeLinear"]
    # the copy: the last block's three convolutions, int8 weights of their own
    copied = [n for n in model.graph.node if n.name.startswith(PREFIX) and n.op_type == "Conv"]
    assert len(copied) == 3
    grown = len(model.SerializeToString()) - len(static.SerializeToString())
    assert 500_000 < grown < 800_000  # 0.6 M int8 weights, not float

    logits, feats, at_cut = _run(model, grey.cut)
    before, before_feats = _run(static)
    assert np.array_equal(logits[:3], before[:3])  # colour frames: the very same numbers
    assert np.abs(feats[3:] - before_feats[3:]).max() > 0.1  # grey frames: the copy's reading
    with torch.no_grad():  # what the torch copy (now holding the file's int8 weights) computes
        mine = grey(torch.from_numpy(at_cut[3:])).numpy()
    assert np.mean(np.abs(mine - feats[3:]) > 1e-5) < 0.01
    assert np.abs(mine - feats[3:]).max() < 0.05

    # dropped whole; carried to a model with the same colour blocks' names and back again
    dropped = drop_grey_tail(model)
    assert len(dropped.graph.node) == len(static.graph.node)
    assert {i.name for i in dropped.graph.initializer} == {i.name for i in static.graph.initializer}
    assert np.array_equal(_run(dropped)[0], before)
    # retraining reads the copy as the file runs it: the switch's condition a second input
    both = TailModule(model, grey.cut, GREY_FLAG)
    assert both.flag == GREY_FLAG
    flags = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    with torch.no_grad():
        read = both(torch.from_numpy(at_cut), flags).numpy()
        with pytest.raises(ModelError, match="give each row's flag"):
            both(torch.from_numpy(at_cut))
    assert np.mean(np.abs(read - feats) > 1e-5) < 0.01 and np.abs(read - feats).max() < 0.05
    assert TailModule(model, boundaries(static)[0], GREY_FLAG).flag is None  # past the switch
    again = add_grey_tail(model, grey, delta.threshold)  # replaced, not stacked
    assert len(again.graph.node) == len(model.graph.node)


def test_the_float_graph_and_the_int8_weights_form_keep_the_switch(
    static: onnx.ModelProto,
) -> None:
    """What a host whose int8 kernels are slow runs (train.quantize.weights_form), and what the
    float graph behind the file computes: grey frames still through the copy."""
    delta = read_grey_head(static)
    assert delta is not None
    model = add_grey_tail(static, _moved_copy(static), delta.threshold)
    logits, feats = _run(model)
    plain_logits, plain_feats = _run(float_view(static))
    floated_logits, floated_feats = _run(float_view(model))
    assert not any(n.op_type == "QuantizeLinear" for n in float_view(model).graph.node)
    assert np.array_equal(floated_logits[:3], plain_logits[:3])  # colour: the same float path
    assert np.abs(floated_feats[3:] - plain_feats[3:]).max() > 0.1  # grey: the copy's
    _, static_feats = _run(static)
    rounding = np.abs(plain_feats - static_feats).max()  # what int8 activations change
    assert np.abs(floated_feats - feats).max() <= 1.5 * rounding
    weights = weights_form(model)
    assert has_grey_tail(weights)
    weights_logits, _ = _run(weights)
    assert np.array_equal(weights_logits.argmax(1), logits.argmax(1))


def test_a_copy_that_does_not_reach_the_switch_is_refused(static: onnx.ModelProto) -> None:
    delta = read_grey_head(static)
    assert delta is not None
    with pytest.raises(ModelError, match="do not reach"):
        add_grey_tail(static, _moved_copy(static, blocks=1), delta.threshold)
    moved = _moved_copy(static)
    with torch.no_grad():
        list(moved.params.values())[-1].add_(0.5)  # the final convolution's bias
    with pytest.raises(ModelError, match="both paths share"):
        add_grey_tail(static, moved, delta.threshold)


def test_only_the_blocks_before_the_final_convolution_learn(static: onnx.ModelProto) -> None:
    plain = drop_grey_head(static)
    cut = cut_for(plain, 2)
    colour = TailModule(plain, cut)
    x = cut_rows(plain, cut, _images()).astype(np.float16)
    with torch.no_grad():
        teacher = colour(torch.from_numpy(x.astype(np.float32))).numpy() * 1.2
    head = read_head(plain)
    views = PairedViews(x, teacher, np.arange(len(x), dtype=np.int64))
    options = GreyTailOptions(steps=4, batch=8)
    grey, weight, bias = fit_grey_tail(plain, cut, views, (head.weight, head.bias), options)
    final = next(n for n in reversed(grey.nodes) if n.op_type == "Conv")
    for name, key in grey.keys.items():
        moved = not torch.equal(grey.params[key], colour.params[key])
        assert moved == (name not in final.input), name
    assert not np.array_equal(weight, head.weight) and not np.array_equal(bias, head.bias)
    with pytest.raises(ModelError, match="blocks must be 2 or more"):  # the final conv alone
        fit_grey_tail(plain, cut_for(plain, 1), views, (head.weight, head.bias), options)


def _night_site(manifest: Path) -> Path:
    """The reviewed photos as a night/IR camera sends them: grey JPEGs."""
    rows = list(csv.DictReader(manifest.open()))
    for n, row in enumerate(rows):
        path = (
            Path(row["path"]) if Path(row["path"]).is_absolute() else manifest.parent / row["path"]
        )
        grey = cv2.cvtColor(read_image(path), cv2.COLOR_BGR2GRAY)
        row["path"] = f"night-{n}.jpg"
        cv2.imwrite(str(manifest.parent / row["path"]), np.repeat(grey[:, :, None], 3, 2))
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def test_a_retrain_tunes_both_copies_each_row_through_its_own(
    static: onnx.ModelProto, tmp_path: Path
) -> None:
    if not (WASTE_V1 / "manifest.csv").is_file() or not (WASTE_EXTRA / "manifest.csv").is_file():
        no_datasets(f"shared datasets not found under {WASTE_V1.parent} (tests read ../shared)")
    delta = read_grey_head(static)
    assert delta is not None
    active = tmp_path / "tail.onnx"
    model = add_grey_tail(static, _moved_copy(static), delta.threshold)
    embed_metadata(model, Classifier(shipped_model_path()).metadata)  # type: ignore[arg-type]
    onnx.save(model, str(active))
    manifests = [WASTE_V1 / "manifest.csv", WASTE_EXTRA / "manifest.csv"]
    field = _night_site(_field_manifest(tmp_path / "reviewed.csv", 12))
    again = RetrainOptions(steps=5, tune_blocks=2, static_candidate=1)
    (tmp_path / "again").mkdir()
    with pytest.raises(ModelError, match="not quantized again"):
        retrain(active, manifests, field, tmp_path / "again", again, limit=60)
    # through the float graph, written with int8 weights: the switch and both copies go along
    through_float = RetrainOptions(steps=5, tail_steps=5, field_views=1, tune_blocks=2,
                                   static_candidate=0)  # fmt: skip
    (tmp_path / "float").mkdir()
    floated = retrain(active, manifests, field, tmp_path / "float", through_float, limit=60)
    assert floated["recipe"]["grey_tail"] == "tuned with the blocks"
    written = tmp_path / "float" / "candidate.onnx"
    assert has_grey_tail(onnx.load(str(written)))
    assert Classifier(written).metadata.quantization == "int8-weights"
    options = RetrainOptions(steps=20, tail_steps=15, field_views=1, tune_blocks=2)
    out = tmp_path / "run"
    out.mkdir()
    report = retrain(active, manifests, field, out, options, limit=60)
    assert report["recipe"]["tuned_blocks"] == 2
    assert report["recipe"]["grey_tail"] == "tuned with the blocks"
    assert report["field"]["train_grey_share"] == 1.0  # every review a grey frame
    candidate = onnx.load(str(out / "candidate.onnx"))
    assert has_grey_tail(candidate)

    def weights(m: onnx.ModelProto, grey: bool) -> dict[str, bytes]:
        int8 = onnx.TensorProto.INT8
        return {i.name: i.SerializeToString() for i in m.graph.initializer
                if i.name.startswith(PREFIX) == grey and i.data_type == int8}  # fmt: skip

    for grey in (False, True):  # both copies' int8 weights moved
        before, after = weights(model, grey), weights(candidate, grey)
        assert before.keys() == after.keys()
        assert any(before[k] != after[k] for k in before)  # a few steps: some int8 values
    # the file reads colour and grey frames through their own (tuned) copy
    logits, feats = _run(candidate)
    parent_logits, parent_feats = _run(model)
    assert np.abs(feats - parent_feats).max() > 1e-3
    assert logits.shape == parent_logits.shape


def test_a_built_file_is_saved_a_step_on_with_its_numbers_measured_again(
    static: onnx.ModelProto, tmp_path: Path
) -> None:
    """What `python -m train.grey_tail_fit` (and grey_head's and static_cli's mains) end with:
    the new version, the step in the recipe with its commit, the test numbers of the file."""
    if not (WASTE_EXTRA / "manifest.csv").is_file():
        no_datasets(f"shared datasets not found under {WASTE_EXTRA.parent} (tests read ../shared)")
    delta = read_grey_head(static)
    assert delta is not None
    model = add_grey_tail(static, _moved_copy(static), delta.threshold)
    source = Classifier(shipped_model_path()).metadata  # type: ignore[arg-type]
    samples = load_manifests([WASTE_EXTRA / "manifest.csv"]).samples
    few = [s for split in ("test", "val") for s in samples if s.split == split][::12]
    manifest = tmp_path / "few.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "split", "category", "fine_label", "source", "group"])
        for s in few:
            category = "" if s.category is None else s.category.value
            writer.writerow([s.path, s.split, category, s.label, "extra", s.group])
    out = tmp_path / "tail.onnx"
    save_step(model, source, "v-tail", "grey_tail", {"steps": 3}, [manifest], out)
    saved = Classifier(out).metadata
    assert saved.model_version == "v-tail" and has_grey_tail(onnx.load(str(out)))
    step = saved.provenance.recipe["grey_tail"]
    assert step["steps"] == 3 and step["commit"]
    assert {k: v for k, v in saved.provenance.recipe.items() if k != "grey_tail"} == (
        source.provenance.recipe
    )
    assert saved.metrics != source.metrics  # measured on these few photos, not carried over
    assert 0.0 <= saved.metrics["test_category_accuracy"] <= 1.0
