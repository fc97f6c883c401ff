"""A second copy of the last block for grey frames: what the body computes when the camera has no
colour.

The grey head (train.grey_head) re-weighs the same features for a grey frame; the body under it
was trained mostly on colour, and a night/IR frame of food scraps on a tray reads as tissue or
residual waste before the head sees it (models/README.md, "Why night stays near 91 % after
reviews"). So the file can carry its own copy of the blocks from a cut up to the boundary before
the final convolution, trained on grey views (train.grey_tail_fit), and take the copy's output
instead of the colour blocks' where the frame is grey. The switch is one `Where` on the graph's
own grey test (train.grey_head.grey_flag, its nodes named `grey_tail.*`, independent of the grey
head's), on the tensor the final convolution reads: in a static int8 file the uint8 tensor before
its DequantizeLinear, so ONNX Runtime still fuses that convolution into its int8 kernel. Colour
frames read exactly as before; both copies run on every frame (the copy is the last block of
EfficientNet-Lite0: 0.6 M convolution weights beside the body's 3.3 M, 29 M multiply-adds beside
its 384 M, counted from the file's convolution shapes).

The copy's weights are written as the colour blocks are (train.tail.write_tail: int8 per output
channel, a static file's int32 biases at its own input scale); its activations round at the
parent's scales (the same QuantizeLinear constants). Everything added is named `grey_tail.*`, so
`drop_grey_tail` removes it whole. A retrain whose tuned blocks reach the switch trains both
copies (train.tail.TailModule takes the switch's condition, `GREY_FLAG`, as a second input), each
row through the copy the file takes for it.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import helper, numpy_helper

from train.grey_head import grey_flag
from train.tail import TailModule, _constants, _producers, boundaries, write_tail
from vision.errors import ModelError

PREFIX = "grey_tail."
WHERE = "grey_tail.where"
GREY_FLAG = PREFIX + "is4"  # the switch's condition, N×1×1×1 (a second input of TailModule)


def switched_tensor(model: onnx.ModelProto, upto: str) -> str:
    """The tensor the switch replaces: in a static int8 file the rounded (uint8) value whose
    DequantizeLinear gives `upto`, else `upto` itself."""
    producers = _producers(model)
    node = producers.get(upto)
    if node is not None and node.op_type == "DequantizeLinear":
        rounding = producers.get(node.input[0])
        if rounding is not None and rounding.op_type == "QuantizeLinear":
            return str(node.input[0])
    return upto


def has_grey_tail(model: onnx.ModelProto) -> bool:
    return any(n.name == WHERE for n in model.graph.node)


def add_grey_tail(
    model: onnx.ModelProto, grey: TailModule, threshold: float, upto: str | None = None
) -> onnx.ModelProto:
    """A copy of `model` that runs the nodes of `grey` (a TailModule of this model, its weights
    trained for grey frames) from its cut up to `upto` (default: the boundary before the final
    convolution) as a second path, and takes that path's output where the frame is grey
    (`threshold`: train.grey_head's mean channel spread on the input tensor's scale). A model that
    has a grey tail has it replaced. `grey`'s parameters are set to what the file holds."""
    out = drop_grey_tail(model)
    upto = upto or boundaries(out)[0]
    switched = switched_tensor(out, upto)
    end = next((i for i, n in enumerate(grey.nodes) if switched in n.output), None)
    if end is None or grey.cut == upto:
        raise ModelError(f"the grey blocks (from {grey.cut!r}) do not reach {upto!r}")
    copied = grey.nodes[: end + 1]
    trained = dict.fromkeys(t for n in copied for t in n.input if t in grey.keys)
    shared = _constants(out)
    for name, key in grey.keys.items():  # what follows the switch is the colour path's
        if name in trained:
            continue
        if name not in shared or not np.array_equal(grey.params[key].detach().numpy(),
                                                    shared[name]):  # fmt: skip
            raise ModelError(f"the grey blocks moved {name!r}, which both paths share")
    written = write_tail(out, grey)  # the grey weights as the file holds them
    values = {i.name: i for i in written.graph.initializer}
    sources = _producers(written)
    renamed = {o: PREFIX + o for n in copied for o in n.output}
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    for name in trained:  # each trained tensor: an initializer, or the DequantizeLinear of one
        renamed[name] = PREFIX + name
        source = sources.get(name)
        tensors = [name] if name in values else [t for t in source.input if t] if source else []
        if not tensors:
            raise ModelError(f"cannot copy {name!r}: neither an initializer nor dequantized one")
        inits += [numpy_helper.from_array(numpy_helper.to_array(values[t]), PREFIX + t)
                  for t in tensors]  # fmt: skip
        if source is not None and name not in values:
            nodes.append(_renamed(source, {t: PREFIX + t for t in [*tensors, name]}))
    nodes += [_renamed(n, renamed) for n in copied]
    image = out.graph.input[0].name
    constants, flag_nodes, flag = grey_flag(image, threshold, PREFIX)
    inits += [*constants, numpy_helper.from_array(np.array([2, 3], np.int64),
                                                  PREFIX + "axes4")]  # fmt: skip
    nodes += [
        *flag_nodes,
        helper.make_node("Unsqueeze", [flag, PREFIX + "axes4"], [GREY_FLAG]),
        helper.make_node(
            "Where",
            [GREY_FLAG, PREFIX + switched, switched],
            [PREFIX + "selected"],
            name=WHERE,
        ),
    ]
    for node in nodes:  # every node added is named grey_tail.*, to be found again
        if not node.name.startswith(PREFIX):
            node.name = node.output[0]
    return _join(out, nodes, inits, switched)


def _renamed(node: onnx.NodeProto, names: dict[str, str]) -> onnx.NodeProto:
    new = copy.deepcopy(node)
    new.name = PREFIX + (node.name or node.output[0])
    for i, t in enumerate(node.input):
        new.input[i] = names.get(t, t)
    for i, t in enumerate(node.output):
        new.output[i] = names.get(t, t)
    return new


def _join(
    model: onnx.ModelProto, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto],
    switched: str,
) -> onnx.ModelProto:  # fmt: skip
    """A copy of `model` (without a grey tail) with the tail's `nodes` and `inits` in it: every
    reader of the `switched` tensor reads the switch instead. The nodes go right before the
    first reader, so the graph stays in order."""
    out = copy.deepcopy(model)
    graph = out.graph
    readers = [i for i, n in enumerate(graph.node) if switched in n.input]
    for i in readers:
        node = graph.node[i]
        for k, t in enumerate(node.input):
            if t == switched:
                node.input[k] = PREFIX + "selected"
    kept = list(graph.node)
    first = readers[0]
    del graph.node[:]
    graph.node.extend([*kept[:first], *copy.deepcopy(nodes), *kept[first:]])
    graph.initializer.extend(copy.deepcopy(inits))
    onnx.checker.check_model(out, full_check=True)
    return out


def drop_grey_tail(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy without the grey tail (the same model when it has none)."""
    out = copy.deepcopy(model)
    graph = out.graph
    where = next((n for n in graph.node if n.name == WHERE), None)
    if where is None:
        return out
    for node in graph.node:
        for k, t in enumerate(node.input):
            if t == where.output[0]:
                node.input[k] = where.input[2]
    for node in [n for n in graph.node if n.name.startswith(PREFIX)]:
        graph.node.remove(node)
    for init in [i for i in graph.initializer if i.name.startswith(PREFIX)]:
        graph.initializer.remove(init)
    return out
