"""The classifier head of an exported binwatch model, read from and written into its ONNX graph.

Every model `binwatch export` writes ends in `Gemm(features, W, b) -> logits` (W may be int8 with
a `DequantizeLinear` in front). Retraining reads W and b, computes the `features` tensor with
ONNX Runtime, fine-tunes W and b, and writes them back as float32; everything before the head
stays byte for byte the active model's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from train.graph import dequantize, prune
from vision.errors import ModelError

Array = npt.NDArray[np.float32]
GREY_ADD = "grey_head/add"  # the node that adds a grey head's correction (train.grey_head)


@dataclass(frozen=True)
class Head:
    features: str  # the tensor the classifier reads (N×F)
    weight: Array  # classes × F
    bias: Array  # classes


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in model.graph.initializer}


def _gemm(model: onnx.ModelProto) -> onnx.NodeProto:
    """The colour head: the Gemm the output comes from, or, in a model with a grey head
    (train.grey_head), the one whose logits the grey correction is added to."""
    output = model.graph.output[0].name
    node = next((n for n in model.graph.node if output in n.output), None)
    if node is not None and node.name == GREY_ADD:
        node = next((n for n in model.graph.node if node.input[0] in n.output), None)
    if node is None or node.op_type != "Gemm":
        found = node.op_type if node is not None else "nothing"
        raise ModelError(
            f"the model's output {output!r} comes from {found}, not a Gemm classifier: "
            "retraining needs a model written by `binwatch export`"
        )
    found_node: onnx.NodeProto = node
    return found_node


def _attribute(node: onnx.NodeProto, name: str, default: float) -> float:
    for a in node.attribute:
        if a.name == name:
            return float(helper.get_attribute_value(a))
    return default


def _tensor(model: onnx.ModelProto, name: str) -> Array:
    """An initializer, or the float result of a DequantizeLinear over initializers."""
    inits = _initializers(model)
    if name in inits:
        return numpy_helper.to_array(inits[name]).astype(np.float32)
    node = next((n for n in model.graph.node if name in n.output), None)
    if node is not None and node.op_type == "DequantizeLinear":
        values = {i: numpy_helper.to_array(inits[i]) for i in node.input if i in inits}
        if all(i in values for i in node.input if i):
            return dequantize(node, values)
    raise ModelError(f"cannot read the classifier tensor {name!r} from the model")


def read_head(model: onnx.ModelProto) -> Head:
    node = _gemm(model)
    weight = _tensor(model, node.input[1])
    if not _attribute(node, "transB", 0):
        weight = weight.T
    bias = _tensor(model, node.input[2]) if len(node.input) > 2 else np.zeros(len(weight))
    alpha, beta = _attribute(node, "alpha", 1.0), _attribute(node, "beta", 1.0)
    return Head(
        node.input[0], np.ascontiguousarray(alpha * weight), (beta * bias).astype(np.float32)
    )


def with_features(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy that also outputs the head's input features (second output)."""
    head = _gemm(model)
    out = copy.deepcopy(model)
    out.graph.output.append(
        helper.make_tensor_value_info(head.input[0], TensorProto.FLOAT, ["batch", None])
    )
    return out


def replace_head(model: onnx.ModelProto, weight: Array, bias: Array) -> onnx.ModelProto:
    """A copy whose classifier is `features @ weight.T + bias` with float32 tensors; the
    DequantizeLinear and initializers only the old head used are dropped."""
    out = copy.deepcopy(model)
    graph = out.graph
    node = _gemm(out)
    old = [name for name in node.input[1:]]
    name_w, name_b = "classifier.weight.retrained", "classifier.bias.retrained"
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.asarray(weight, np.float32), name_w),
            numpy_helper.from_array(np.asarray(bias, np.float32), name_b),
        ]
    )
    del node.input[1:]
    node.input.extend([name_w, name_b])
    del node.attribute[:]
    node.attribute.extend([helper.make_attribute("transB", 1)])
    prune(graph, old)
    onnx.checker.check_model(out, full_check=True)
    return out
