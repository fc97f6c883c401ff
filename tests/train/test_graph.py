"""Run-time padding folded into the convolutions (train.graph.fold_pads): the same outputs, fewer
nodes, and only the pads that are a convolution's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from timm.layers.conv2d_same import Conv2dSame

from train.export import export_float
from train.graph import float_weights, fold_pads
from vision.classifier import session_options
from vision.metadata import PreprocessSpec


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(
        model.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"]
    )
    return np.asarray(session.run(None, {"image": x})[0])


class SameNet(torch.nn.Module):
    """TF-style "same" padding as EfficientNet-Lite exports it: amounts computed from the shape."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Conv2dSame(3, 8, 3, stride=2)
        self.down = Conv2dSame(8, 8, 5, stride=2, groups=8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.clamp(self.down(torch.clamp(self.stem(x), 0, 6)), 0, 6)
        return self.head(x.mean(dim=(2, 3)))  # type: ignore[no-any-return]


def test_export_folds_run_time_padding(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = SameNet().eval()
    path = tmp_path / "same.onnx"
    export_float(
        net, PreprocessSpec(input_size=(37, 29), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), path
    )  # odd sizes: asymmetric pads
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    assert "Pad" not in ops and "Shape" not in ops, ops
    x = torch.randn(3, 3, 37, 29)
    with torch.no_grad():
        want = net(x).numpy()
    assert np.abs(_run(model, x.numpy()) - want).max() < 1e-5
    again, count = fold_pads(model)
    assert count == 0 and len(again.graph.node) == len(model.graph.node)


def test_only_zero_pads_into_a_convolution_are_folded() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 2, 3, 3)).astype(np.float32)
    pads = numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64))
    nodes = [
        helper.make_node("Constant", [], ["p"], value=pads),
        helper.make_node("Pad", ["image", "p"], ["a"]),  # zero, into a Conv: folded
        helper.make_node("Conv", ["a", "w"], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("Pad", ["b", "p"], ["c"], mode="reflect"),  # reflect: stays
        helper.make_node("Conv", ["c", "w"], ["d"]),
        helper.make_node("Pad", ["d", "p"], ["e"]),  # read twice: stays
        helper.make_node("Conv", ["e", "w"], ["f"]),
        helper.make_node("Add", ["e", "e"], ["g"]),
        helper.make_node("GlobalAveragePool", ["g"], ["h"]),
        helper.make_node("GlobalAveragePool", ["f"], ["i"]),
        helper.make_node("Add", ["h", "i"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "pads", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 2, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 2, 1, 1])],
        [numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folded, count = fold_pads(model)
    assert count == 1
    assert [n.op_type for n in folded.graph.node].count("Pad") == 2
    conv = next(n for n in folded.graph.node if n.op_type == "Conv")
    assert list(next(a for a in conv.attribute if a.name == "pads").ints) == [2, 1, 3, 2]
    x = rng.normal(size=(2, 2, 8, 8)).astype(np.float32)
    assert np.abs(_run(folded, x) - _run(model, x)).max() < 1e-5


def test_float_weights_turns_int8_weights_into_float_initializers() -> None:
    """An int8 weight's DequantizeLinear becomes a float initializer of the same values; one
    over an activation (a static int8 file's) stays, and the outputs do not change."""
    rng = np.random.default_rng(1)
    q = rng.integers(-127, 128, size=(4, 3, 1, 1)).astype(np.int8)
    scale = rng.uniform(0.01, 0.1, size=4).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["image", "a_scale", "a_zero"], ["image_q"]),
        helper.make_node("DequantizeLinear", ["image_q", "a_scale", "a_zero"], ["image_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], axis=0),
        helper.make_node("Conv", ["image_dq", "w"], ["out"]),
    ]
    inits = [
        numpy_helper.from_array(q, "w_q"),
        numpy_helper.from_array(scale, "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zero"),
        numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "a_zero"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.uniform(-2, 2, size=(1, 3, 5, 5)).astype(np.float32)
    floated = float_weights(model)
    ops = [n.op_type for n in floated.graph.node]
    assert ops == ["QuantizeLinear", "DequantizeLinear", "Conv"]
    weights = {i.name: numpy_helper.to_array(i) for i in floated.graph.initializer}
    assert "w_q" not in weights and weights["w"].dtype == np.float32
    assert np.allclose(weights["w"], q.astype(np.float32) * scale.reshape(4, 1, 1, 1))
    assert np.abs(_run(floated, x) - _run(model, x)).max() < 1e-5
    assert len(model.graph.node) == 4, "the original is not changed"
