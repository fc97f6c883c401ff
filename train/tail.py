"""The last blocks of an exported binwatch model, rebuilt as trainable torch from the ONNX file's
own weights, and written back into it.

Retraining from nothing but the deployed `.onnx` file: the graph is cut at a block boundary
(`boundaries`: a tensor every path from the image to the head's features passes through, right
after a convolution or a residual addition), the sub-graph from there to the features becomes a
`TailModule` (each Conv's weight and bias an `nn.Parameter`: float initializers as they are, int8
ones through their DequantizeLinear), the cut activations come from ONNX Runtime (and are cached
per photo), and the trained tensors go back where they came from (`write_tail`): float ones as
float32, int8 ones quantized again per output channel as `binwatch export` does, so the file stays
the size it was. Batch norm is folded into the convolutions in the export, so the tail has no
batch statistics to keep.

A static int8 file (QDQ: every activation rounded to uint8 by a QuantizeLinear -> DequantizeLinear
pair) is rebuilt as it runs: the cut is a rounded tensor between blocks, each pair in the tail is
fake quantization at the file's own scale and zero point (straight-through gradient inside the
range), and its int32 biases are written back at their convolution's input scale times the new
weight scales. So the tail trains on, and the head fits to, the features the file computes
(torch and ONNX Runtime differ by one rounding step on under 1 % of the values, where the int8
kernels break a tie the other way: tests/train/test_tail.py).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from train.graph import dequantize
from train.head import _gemm
from train.quantize import quantize_channels
from vision.errors import ModelError

ACTIVATIONS = {"Clip", "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh"}
# a static int8 file's activation rounding (QuantizeLinear -> DequantizeLinear) runs as fake
# quantization at the file's own scales
QDQ = {"QuantizeLinear", "DequantizeLinear"}
READ_ROUNDED = ACTIVATIONS | {"QuantizeLinear"}  # not a boundary: read through these
SUPPORTED = ACTIVATIONS | QDQ | {
    "Conv", "Add", "Mul", "GlobalAveragePool", "Flatten", "Identity", "Where"
}  # fmt: skip


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Tensors that do not depend on the image: initializers, Constant nodes, and the
    DequantizeLinear of an initializer (an int8 weight, as float)."""
    values = _initializers(model)
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = _attrs(node).get("value")
            if isinstance(value, onnx.TensorProto):
                values[node.output[0]] = numpy_helper.to_array(value)
        elif node.op_type == "DequantizeLinear" and all(n in values for n in node.input if n):
            values[node.output[0]] = dequantize(node, values)
    return values


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in model.graph.node for out in node.output}


def _consumers(model: onnx.ModelProto, name: str) -> list[onnx.NodeProto]:
    return [node for node in model.graph.node if name in node.input]


def _settled(name: str, producers: dict[str, onnx.NodeProto]) -> onnx.NodeProto | None:
    """The node that computed `name`: its producer, or in a static int8 file, the producer of
    the value a QuantizeLinear -> DequantizeLinear pair rounded into `name`."""
    node = producers.get(name)
    if node is not None and node.op_type == "DequantizeLinear":
        rounding = producers.get(node.input[0])
        if rounding is not None and rounding.op_type == "QuantizeLinear":
            return producers.get(rounding.input[0])
    return node


def boundaries(model: onnx.ModelProto) -> list[str]:
    """Block boundaries before the head, nearest the head first: tensors that every path from the
    image to the head's features passes through, produced by a Conv or an Add (in a static int8
    file: rounded to int8 after one) and read by no activation (the tensor between two blocks,
    or before the final convolution; not the float value a static file rounds before anything
    reads it)."""
    constants = _constants(model)
    producers = _producers(model)
    order = {id(node): i for i, node in enumerate(model.graph.node)}
    inputs = {i.name for i in model.graph.input}
    frontier = {_gemm(model).input[0]}
    found = []
    while frontier:
        if len(frontier) == 1:
            (only,) = frontier
            node = _settled(only, producers)
            if (
                node is not None
                and node.op_type in ("Conv", "Add")
                and not any(c.op_type in READ_ROUNDED for c in _consumers(model, only))
            ):
                found.append(only)
        latest = max(frontier, key=lambda t: order[id(producers[t])] if t in producers else -1)
        if latest in inputs or latest not in producers:
            break
        frontier.remove(latest)
        frontier |= {t for t in producers[latest].input if t and t not in constants}
    return found


def cut_for(model: onnx.ModelProto, blocks: int) -> str:
    """The tensor where the last `blocks` blocks begin (the final convolution counts as one)."""
    found = boundaries(model)
    if not 1 <= blocks <= len(found):
        raise ModelError(
            f"cannot tune {blocks} blocks: the model has {len(found)} block boundaries before "
            "its head"
        )
    return found[blocks - 1]


class TailModule(nn.Module):
    """The ONNX sub-graph from `cut` to the head's features, run by torch with its convolution
    weights as parameters. `names[key]` is the ONNX tensor a parameter came from. With `flag`
    (a boolean N×1×1×1 tensor of the graph that its own nodes compute from the image: a grey
    tail's switch, train.grey_tail), the sub-graph takes it as a second input, per row."""

    def __init__(self, model: onnx.ModelProto, cut: str, flag: str | None = None):
        super().__init__()
        self.cut, self.features = cut, _gemm(model).input[0]
        self.flag: str | None = None
        constants = _constants(model)
        producers = _producers(model)
        needed: list[onnx.NodeProto] = []
        pending, seen = [self.features], {cut} | ({flag} if flag else set())
        while pending:
            name = pending.pop()
            if name in seen or name in constants:
                continue
            seen.add(name)
            node = producers.get(name)
            if node is None:
                raise ModelError(f"{name!r} does not come from {cut!r}: not a block boundary")
            if node.op_type not in SUPPORTED:
                raise ModelError(
                    f"cannot rebuild {node.op_type} ({node.name}) in the last blocks as torch"
                )
            needed.append(node)
            pending.extend(t for t in node.input if t)
            if flag is not None and flag in node.input:
                self.flag = flag  # read on the way: the caller must give it
        order = {id(node): i for i, node in enumerate(model.graph.node)}
        self.nodes = sorted({id(n): n for n in needed}.values(), key=lambda n: order[id(n)])
        for node in self.nodes:  # fake quantization takes one scale and zero point a tensor
            if node.op_type == "QuantizeLinear" and (
                len(node.input) < 3 or np.size(constants.get(node.input[1], [])) != 1
            ):
                raise ModelError(
                    f"cannot rebuild {node.name}: an activation quantized per channel or "
                    "without a zero point"
                )
        self.params = nn.ParameterDict()
        self.names: dict[str, str] = {}
        self.constants: dict[str, torch.Tensor] = {}
        for node in self.nodes:
            for position, name in enumerate(node.input):
                if not name or name not in constants:
                    continue
                value = torch.from_numpy(np.array(constants[name], copy=True))
                if node.op_type == "Conv" and position in (1, 2):
                    key = f"p{len(self.names)}"
                    self.params[key] = nn.Parameter(value.float())
                    self.names[key] = name
                else:
                    self.constants[name] = value
        self.keys = {name: key for key, name in self.names.items()}

    def _value(self, name: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
        if name in self.keys:
            param: torch.Tensor = self.params[self.keys[name]]
            return param
        return env[name] if name in env else self.constants[name]

    def forward(self, x: torch.Tensor, flags: torch.Tensor | None = None) -> torch.Tensor:
        env = {self.cut: x.float()}
        if self.flag is not None:
            if flags is None:
                raise ModelError(f"these blocks read {self.flag!r}: give each row's flag")
            env[self.flag] = flags.reshape(-1, 1, 1, 1).bool()
        for node in self.nodes:
            args = [self._value(t, env) if t else None for t in node.input]
            env[node.output[0]] = _run(node, args)
        return env[self.features]


def _run(node: onnx.NodeProto, args: list[Any]) -> torch.Tensor:
    a = _attrs(node)
    x: torch.Tensor = args[0]
    other: torch.Tensor = args[1] if len(args) > 1 else x
    op = node.op_type
    if op == "Conv":
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ModelError(f"cannot rebuild Conv {node.name} with auto_pad as torch")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        half = len(pads) // 2
        if pads[:half] != pads[half:]:
            x = F.pad(x, [v for i in reversed(range(half)) for v in (pads[i], pads[i + half])])
            pads = [0] * len(pads)
        return F.conv2d(x, args[1], args[2] if len(args) > 2 else None,
                        stride=tuple(a.get("strides", [1, 1])),
                        padding=tuple(pads[:half]),
                        dilation=tuple(a.get("dilations", [1, 1])),
                        groups=int(a.get("group", 1)))  # fmt: skip
    if op == "Clip":
        low = args[1] if len(args) > 1 and args[1] is not None else a.get("min")
        high = args[2] if len(args) > 2 and args[2] is not None else a.get("max")
        return torch.clamp(x, _scalar(low), _scalar(high))
    if op == "Relu":
        return torch.relu(x)
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "Tanh":
        return torch.tanh(x)
    if op == "LeakyRelu":
        return F.leaky_relu(x, float(a.get("alpha", 0.01)))
    if op == "HardSigmoid":
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        return torch.clamp(alpha * x + beta, 0.0, 1.0)
    if op == "HardSwish":
        return F.hardswish(x)
    if op == "QuantizeLinear":
        return _fake_quantize(x, args[1], args[2])
    if op == "DequantizeLinear":  # of an activation: its QuantizeLinear gave the float already
        return x
    if op == "Where":  # x is the condition
        return torch.where(x, other, args[2])
    if op == "Add":
        return x + other
    if op == "Mul":
        return x * other
    if op == "GlobalAveragePool":
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
    if op == "Flatten":
        axis = int(a.get("axis", 1))
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    return x  # Identity


def _fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """What QuantizeLinear then DequantizeLinear give back (round half to even, saturate to the
    zero point's type), with the straight-through gradient inside the range and none outside."""
    info = torch.iinfo(zero.dtype)
    s, z = float(scale.reshape(-1)[0]), float(zero.reshape(-1)[0])
    clipped = torch.clamp(x, (info.min - z) * s, (info.max - z) * s)
    rounded = (torch.clamp(torch.round(clipped / s) + z, info.min, info.max) - z) * s
    return clipped + (rounded - clipped).detach()


def _scalar(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return float(value.reshape(-1)[0])
    return float(value)


def with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy that also outputs `names` (after its own outputs)."""
    out = copy.deepcopy(model)
    for name in names:
        out.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return out


def _dequantizers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}


def write_tail(model: onnx.ModelProto, tail: TailModule) -> onnx.ModelProto:
    """A copy of `model` with the tail's parameters in place of the tensors they came from.
    Int8 weights are quantized again (symmetric, per output channel, the clipping with the
    smallest error); a static file's int32 biases again at their convolution's input scale times
    its new weight scales; and the tail's parameters are set to what the file now holds, so
    running the tail in torch and the file in ONNX Runtime agree."""
    out = copy.deepcopy(model)
    inits = {i.name: i for i in out.graph.initializer}
    sources = _dequantizers(out)
    weight_scales: dict[str, np.ndarray] = {}
    biases = {n.input[2]: n for n in tail.nodes if n.op_type == "Conv" and len(n.input) > 2}
    # weights first: a quantized bias's scale is its convolution's input scale x weight scale
    for key, name in sorted(tail.names.items(), key=lambda item: item[1] in biases):
        value = tail.params[key].detach().cpu().numpy().astype(np.float32)
        if name in inits:
            inits[name].CopyFrom(numpy_helper.from_array(value, name))
            continue
        node = sources.get(name)
        if node is None or node.input[0] not in inits or _attrs(node).get("axis", 1) != 0:
            raise ModelError(
                f"cannot write {name!r} back: neither an initializer nor quantized per output "
                "channel"
            )
        if inits[node.input[0]].data_type == TensorProto.INT32 and name in biases:
            q, scale = _quantize_bias(value, biases[name], sources, inits, weight_scales)
            zero = np.zeros(len(scale), np.int32)
        else:
            q, scale = quantize_channels(value)
            weight_scales[name] = scale
            zero = np.zeros(len(scale), np.int8)
        written: dict[str, np.ndarray] = {node.input[0]: q, node.input[1]: scale}
        if len(node.input) > 2 and node.input[2]:
            written[node.input[2]] = zero
        for tensor, array in written.items():
            inits[tensor].CopyFrom(numpy_helper.from_array(array, tensor))
        with torch.no_grad():  # what the file now holds
            tail.params[key].copy_(torch.from_numpy(dequantize(node, written)))
    onnx.checker.check_model(out, full_check=True)
    return out


def _quantize_bias(
    value: np.ndarray,
    conv: onnx.NodeProto,
    sources: dict[str, onnx.NodeProto],
    inits: dict[str, onnx.TensorProto],
    weight_scales: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """A static file's int32 bias (q, scale) for `conv`: scale = input scale x weight scales."""
    rounding = sources.get(conv.input[0])
    if rounding is None or conv.input[1] not in weight_scales:
        raise ModelError(f"cannot write the int32 bias of {conv.name}: no input or weight scale")
    input_scale = float(numpy_helper.to_array(inits[rounding.input[1]]).reshape(-1)[0])
    scale = (input_scale * weight_scales[conv.input[1]]).astype(np.float32)
    limit = np.iinfo(np.int32)
    q = np.clip(np.round(value / scale), limit.min, limit.max).astype(np.int32)
    return q, scale
