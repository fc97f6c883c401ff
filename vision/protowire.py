"""Just enough of the protocol-buffer wire format to read an ONNX graph's nodes and to expose
more of its tensors as outputs, without the `onnx` package (the vision core depends on ONNX
Runtime alone: ../shared/DESIGN.md).

An ONNX file is a serialized `ModelProto`. Its graph is field 7; a graph's nodes are field 1 and
its outputs field 12; a node's inputs, outputs, name, op type and attributes are fields 1, 2, 3, 4
and 5; an attribute's name, float and int are fields 1, 2 and 3 (onnx/onnx.proto). A parser
merges a message field that appears twice, so `with_outputs` appends a second graph field
holding only the new nodes and outputs, and ONNX Runtime loads the whole as one graph.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MODEL_GRAPH, GRAPH_NODE, GRAPH_OUTPUT = 7, 1, 12
NODE_INPUT, NODE_OUTPUT, NODE_NAME, NODE_OP = 1, 2, 3, 4
NODE_ATTRIBUTE = 5
ATTRIBUTE_NAME, ATTRIBUTE_FLOAT, ATTRIBUTE_INT = 1, 2, 3
VALUE_NAME = 1


class WireError(ValueError):
    """The bytes are not the protocol-buffer message they should be."""


@dataclass(frozen=True)
class Node:
    """One graph node: its op type, input and output tensor names and its scalar attributes."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    ints: dict[str, int] = field(default_factory=dict)
    floats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Graph:
    """A graph's nodes, in file order, and its output names."""

    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]

    def producer(self, tensor: str) -> Node | None:
        return next((n for n in self.nodes if tensor in n.outputs), None)

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise WireError("a truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of a message, in order: an int for
    varint and fixed fields, the payload's bytes for length-delimited ones."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, kind = key >> 3, key & 7
        value: int | bytes
        if kind == VARINT:
            value, at = _varint(data, at)
        elif kind == FIXED64:
            value, at = int.from_bytes(data[at : at + 8], "little"), at + 8
        elif kind == FIXED32:
            value, at = int.from_bytes(data[at : at + 4], "little"), at + 4
        elif kind == LENGTH:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        else:
            raise WireError(f"wire type {kind} of field {number} is not used by ONNX")
        if at > len(data):
            raise WireError(f"field {number} runs past the end of the message")
        yield number, kind, value


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise WireError("a string field holds a number")
    return value.decode("utf-8")


def _node(data: bytes) -> Node:
    inputs, outputs, op_type = [], [], ""
    ints: dict[str, int] = {}
    floats: dict[str, float] = {}
    for number, _, value in fields(data):
        if number == NODE_INPUT:
            inputs.append(_text(value))
        elif number == NODE_OUTPUT:
            outputs.append(_text(value))
        elif number == NODE_OP:
            op_type = _text(value)
        elif number == NODE_ATTRIBUTE and isinstance(value, bytes):
            name, number_value, float_value = "", None, None
            for a_number, _, a_value in fields(value):
                if a_number == ATTRIBUTE_NAME:
                    name = _text(a_value)
                elif a_number == ATTRIBUTE_INT and isinstance(a_value, int):
                    number_value = a_value - (1 << 64) if a_value >= 1 << 63 else a_value
                elif a_number == ATTRIBUTE_FLOAT and isinstance(a_value, int):
                    float_value = struct.unpack("<f", a_value.to_bytes(4, "little"))[0]
            if number_value is not None:
                ints[name] = number_value
            if float_value is not None:
                floats[name] = float_value
    return Node(op_type, tuple(inputs), tuple(outputs), ints, floats)


def read_graph(model: bytes) -> Graph:
    """The nodes and output names of a serialized ONNX model's graph (the graph fields
    merged, as a parser merges them)."""
    nodes: list[Node] = []
    outputs: list[str] = []
    for number, _, value in fields(model):
        if number != MODEL_GRAPH or not isinstance(value, bytes):
            continue
        for g_number, _, g_value in fields(value):
            if g_number == GRAPH_NODE and isinstance(g_value, bytes):
                nodes.append(_node(g_value))
            elif g_number == GRAPH_OUTPUT and isinstance(g_value, bytes):
                for v_number, _, v_value in fields(g_value):
                    if v_number == VALUE_NAME:
                        outputs.append(_text(v_value))
    if not nodes:
        raise WireError("no graph nodes: not an ONNX model")
    return Graph(tuple(nodes), tuple(outputs))


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | LENGTH) + _encode_varint(len(payload)) + payload


def with_outputs(model: bytes, tensors: dict[str, str]) -> bytes:
    """`model` with each tensor of `tensors` (its name → the new output's name) also a graph
    output, through an Identity node (a graph input or an initializer can be one too)."""
    extra = b""
    for tensor, name in tensors.items():
        node = (
            _length_field(NODE_INPUT, tensor.encode())
            + _length_field(NODE_OUTPUT, name.encode())
            + _length_field(NODE_NAME, f"{name}.identity".encode())
            + _length_field(NODE_OP, b"Identity")
        )
        extra += _length_field(GRAPH_NODE, node)
    for name in tensors.values():
        extra += _length_field(GRAPH_OUTPUT, _length_field(VALUE_NAME, name.encode()))
    return model + _length_field(MODEL_GRAPH, extra)
