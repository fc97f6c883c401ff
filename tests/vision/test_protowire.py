"""vision.protowire: an ONNX graph's nodes read from its bytes, and tensors exposed as outputs,
without the `onnx` package; ONNX Runtime runs the result."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.tiny_model import build_tiny_model
from vision.protowire import WireError, read_graph, with_outputs


def test_the_tiny_models_nodes_outputs_and_attributes_are_read() -> None:
    graph = read_graph(build_tiny_model().SerializeToString())
    assert [n.op_type for n in graph.nodes] == ["GlobalAveragePool", "Flatten", "Gemm"]
    assert graph.outputs == ("logits",)
    assert graph.nodes[1].ints == {"axis": 1}
    assert graph.nodes[2].inputs == ("flat", "weight", "bias")
    assert graph.producer("pooled") is graph.nodes[0]
    assert graph.consumers("flat") == [graph.nodes[2]]


def test_float_and_negative_int_attributes_are_read() -> None:
    node = helper.make_node("Gemm", ["a", "b"], ["c"], alpha=0.25, transB=1)
    clip = helper.make_node("Flatten", ["c"], ["d"], axis=-1)
    graph = helper.make_graph(
        [node, clip], "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.ones((3, 2), np.float32), "b")],
    )  # fmt: skip
    read = read_graph(helper.make_model(graph).SerializeToString())
    assert read.nodes[0].floats == {"alpha": 0.25} and read.nodes[0].ints == {"transB": 1}
    assert read.nodes[1].ints == {"axis": -1}


def test_tensors_become_outputs_onnx_runtime_returns() -> None:
    """The pooled vector (an inner tensor), the head's weight (an initializer) and the image
    (the graph's input) come back beside the logits, with the values the graph holds."""
    model = build_tiny_model()
    exposed = with_outputs(
        model.SerializeToString(), {"pooled": "out.pooled", "weight": "out.w", "image": "out.in"}
    )
    merged = onnx.load_from_string(exposed)  # the onnx package reads one graph too
    assert [o.name for o in merged.graph.output] == ["logits", "out.pooled", "out.w", "out.in"]
    assert [n.op_type for n in merged.graph.node][3:] == ["Identity"] * 3
    session = ort.InferenceSession(exposed, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["logits", "out.pooled", "out.w", "out.in"]
    image = np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    logits, pooled, weight, back = session.run(None, {"image": image})
    assert np.allclose(pooled.reshape(2, 3), image.mean(axis=(2, 3)), atol=1e-6)
    assert np.array_equal(weight, numpy_helper.to_array(model.graph.initializer[0]))
    assert np.array_equal(back, image)
    assert np.allclose(logits, pooled.reshape(2, 3) @ weight + model_bias(model), atol=1e-4)


def model_bias(model: onnx.ModelProto) -> np.ndarray:
    return numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "bias"))


@pytest.mark.parametrize("cut", [1, 7, 40])
def test_cut_or_foreign_bytes_are_a_wire_error(cut: int) -> None:
    data = build_tiny_model().SerializeToString()
    with pytest.raises(WireError):
        read_graph(data[:cut])
    with pytest.raises(WireError):
        read_graph(b"\xff" * cut)
