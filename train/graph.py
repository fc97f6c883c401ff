"""Graph clean-ups for an exported model, exact to float rounding.

`fold_pads`: timm's TF-style "same" padding (EfficientNet-Lite's stride-2 convolutions) exports as
a `Pad` whose amounts are computed at run time from the input's shape (Shape, Gather, Ceil, Sub,
Max, Concat, Cast: about 430 small nodes for Lite0) in front of the convolution. The models take a
fixed input size (their metadata's `input_size`), so the amounts are constants: they are computed
once with ONNX Runtime, put into each convolution's own `pads` attribute (ONNX allows asymmetric
padding), and the Pad nodes and the arithmetic behind them are dropped. On this CPU one crop
through lite0-waste-2.0 went from 7.6 to 6.4 ms (models/README.md, Speed).
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from vision.errors import ModelError


def dequantize(node: onnx.NodeProto, values: dict[str, np.ndarray]) -> np.ndarray:
    """The float32 result of a DequantizeLinear whose inputs are in `values` (per tensor, or per
    channel along its `axis`)."""
    q = values[node.input[0]].astype(np.float32)
    scale = values[node.input[1]].astype(np.float32)
    zero = (values[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2]
            else np.zeros_like(scale))  # fmt: skip
    if scale.ndim == 1 and scale.size > 1:
        axis = next((int(a.i) for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return np.asarray((q - zero) * scale, np.float32)


def prune(graph: onnx.GraphProto, names: list[str]) -> None:
    """Drop the nodes and initializers that produced `names`, when nothing else reads them."""
    pending = list(names)
    while pending:
        name = pending.pop()
        if any(name in n.input for n in graph.node) or name in {o.name for o in graph.output}:
            continue
        for node in [n for n in graph.node if name in n.output]:
            graph.node.remove(node)
            pending.extend(node.input)
        for init in [i for i in graph.initializer if i.name == name]:
            graph.initializer.remove(init)


def float_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose int8 weights are float32 again: every DequantizeLinear over initializers
    becomes an initializer of its result (same name), the int8 tensors behind it dropped. What
    an int8-weights file computes at load, as a plain float graph (e.g. to quantize it again)."""
    out = copy.deepcopy(model)
    graph = out.graph
    values = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    for node in [n for n in graph.node if n.op_type == "DequantizeLinear"]:
        if all(name in values for name in node.input if name):
            graph.node.remove(node)
            graph.initializer.append(
                onnx.numpy_helper.from_array(dequantize(node, values), node.output[0])
            )
            prune(graph, [name for name in node.input if name])
    return out


def strip_activation_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy without the QuantizeLinear -> DequantizeLinear pairs a static int8 (QDQ) file puts
    on its activations: every reader of the pair's result reads the float tensor before it. The
    weights' DequantizeLinear nodes (over initializers) stay; `float_weights` turns those into
    float. What is left computes what the static file approximates, in float. A `Where` that
    switches between two rounded tensors switches between the float ones instead."""
    out = copy.deepcopy(model)
    graph = out.graph
    constant = {i.name for i in graph.initializer}
    constant |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    dropped: list[str] = []
    producers = {o: n for n in graph.node for o in n.output}
    # a switch between two rounded tensors (a grey tail's Where, train.grey_tail), read through
    # DequantizeLinear: the same switch between the float tensors before the rounding
    for where in [n for n in graph.node if n.op_type == "Where"]:
        readers = [n for n in graph.node if where.output[0] in n.input]
        sources = [producers.get(t) for t in where.input[1:]]
        if not readers or any(r.op_type != "DequantizeLinear" for r in readers):
            continue
        if any(s is None or s.op_type != "QuantizeLinear" for s in sources):
            continue
        for position, source in enumerate(sources, 1):
            where.input[position] = source.input[0]  # type: ignore[union-attr]
        for reader in readers:
            rename[reader.output[0]] = where.output[0]
            graph.node.remove(reader)
            dropped.extend(n for n in reader.input[1:] if n)
    for quant in [n for n in graph.node if n.op_type == "QuantizeLinear"]:
        if quant.input[0] in constant:
            continue
        readers = [n for n in graph.node if quant.output[0] in n.input]
        if quant.output[0] in outputs or any(r.output[0] in outputs for r in readers):
            raise ModelError(
                f"the model's output comes from QuantizeLinear {quant.name or quant.output[0]!r}: "
                "its logits are quantized (a float head is needed to retrain)"
            )
        if any(r.op_type != "DequantizeLinear" for r in readers):
            raise ModelError(
                f"QuantizeLinear {quant.name or quant.output[0]!r} is read by something other "
                "than a DequantizeLinear: not a QDQ graph"
            )
        for reader in readers:
            rename[reader.output[0]] = quant.input[0]
            graph.node.remove(reader)
            dropped.extend(n for n in reader.input[1:] if n)
        graph.node.remove(quant)
        dropped.extend(n for n in quant.input[1:] if n)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
    prune(graph, sorted(set(dropped)))
    return out


def _input_shape(model: onnx.ModelProto) -> list[int]:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    if len(shape) != 4 or not all(shape[1:]):
        raise ModelError(f"fold_pads needs a fixed C×H×W input, the model takes {shape}")
    return [1, *shape[1:]]


def fold_pads(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy with every zero `Pad` in front of a `Conv` folded into the convolution; returns it
    and how many were folded. Pads of other kinds, or read by anything else, stay."""
    out = copy.deepcopy(model)
    graph = out.graph
    readers = {name: [n for n in graph.node if name in n.input] for n in graph.node
               for name in n.output}  # fmt: skip
    foldable = []
    for node in graph.node:
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
        after = readers.get(node.output[0], []) if node.op_type == "Pad" else []
        zero = len(node.input) < 3 or not node.input[2] or _zero(out, node.input[2])
        into_conv = len(after) == 1 and after[0].op_type == "Conv"
        if node.op_type == "Pad" and mode == b"constant" and into_conv and zero:
            foldable.append((node, after[0]))
    if not foldable:
        return out, 0
    probe = copy.deepcopy(model)
    for pad, _ in foldable:
        probe.graph.output.append(
            helper.make_tensor_value_info(pad.input[1], TensorProto.INT64, None)
        )
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    image = np.zeros(_input_shape(model), np.float32)
    amounts = session.run([p.input[1] for p, _ in foldable], {graph.input[0].name: image})
    folded = []
    for (pad, conv), amount in zip(foldable, amounts, strict=True):
        values = [int(v) for v in np.asarray(amount).reshape(-1)]
        half = len(values) // 2
        begin, end = values[:half], values[half:]
        if begin[:2] != [0, 0] or end[:2] != [0, 0] or min(values) < 0:
            continue  # pads the batch or channels, or crops: not a convolution's padding
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0] * (2 * half - 4))
        spatial = half - 2
        new = [old[i] + begin[2 + i] for i in range(spatial)]
        new += [old[spatial + i] + end[2 + i] for i in range(spatial)]
        for attribute in [a for a in conv.attribute if a.name in ("pads", "auto_pad")]:
            conv.attribute.remove(attribute)
        conv.attribute.append(helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        folded.append(pad.output[0])
    prune(graph, folded)
    onnx.checker.check_model(out, full_check=True)
    return out, len(folded)


def _zero(model: onnx.ModelProto, name: str) -> bool:
    """Whether the Pad's constant value (an initializer or a Constant node) is zero."""
    for init in model.graph.initializer:
        if init.name == name:
            return bool((onnx.numpy_helper.to_array(init) == 0).all())
    for node in model.graph.node:
        if node.op_type == "Constant" and name in node.output:
            value = helper.get_attribute_value(node.attribute[0])
            if isinstance(value, onnx.TensorProto):
                value = onnx.numpy_helper.to_array(value)
            return bool((np.asarray(value) == 0).all())
    return False
