"""Where in a photo the model sees an item: its class activations, read from its own graph.

A binwatch model ends in global average pooling and a linear head, so its logits are the mean
over the last feature map's cells of what the head makes of each cell (a class activation map).
Each cell's margin, its best item logit less its "no item" logit, says how much that part of the
photo looks like an item rather than ground. `vision.zoom` reads a small item close up from the
cells round the peak where the ground is not plain enough to show the item by its colour.

`find_head` reads the graph (vision.protowire: nodes only, no `onnx` package): the one
GlobalAveragePool, the Gemm nodes fed by what it pools (through quantize, dequantize, flatten,
reshape, squeeze or identity nodes), and how they add up to the first output (Gemm, Add, Mul
by a gain tensor such as a grey head's `grey.flag`, Identity). `ItemMapper` runs a copy of the
graph that also outputs the feature map, each head's weights and each gain, and checks every
image's cells against the model's own logits: an image whose cells do not average to them (a
graph it misread) gets no map. A model it cannot read, or without a `background` output, gives
no maps at all, and photos are read as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vision.protowire import Graph, WireError, read_graph, with_outputs

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]
PASS_THROUGH = {"QuantizeLinear", "DequantizeLinear", "Flatten", "Reshape", "Squeeze", "Identity"}
FEATURES = "binwatch.item_map.features"
# how far a cell average may sit from the model's logits (the pooled vector of a static int8
# graph is quantized once more before the head): this much of the logits' spread, at least
TOLERANCE = 0.05


@dataclass(frozen=True)
class Term:
    """One Gemm of the head: alpha·x·W(ᵀ) + beta·b, times each gain tensor (per image)."""

    weight: str
    bias: str | None
    trans_b: bool
    alpha: float
    beta: float
    gains: tuple[str, ...]


@dataclass(frozen=True)
class Head:
    """The feature map the model pools, and the linear terms its logits are the sum of."""

    features: str
    logits: str
    terms: tuple[Term, ...]


def _pooled(graph: Graph, start: str) -> set[str]:
    names, todo = {start}, [start]
    while todo:
        for node in graph.consumers(todo.pop()):
            if node.op_type in PASS_THROUGH and node.inputs[0] in names:
                for out in node.outputs[:1]:
                    if out not in names:
                        names.add(out)
                        todo.append(out)
    return names


def _terms(graph: Graph, tensor: str, pooled: set[str], depth: int = 0) -> list[Term] | None:
    node = graph.producer(tensor)
    if node is None or depth > 8:
        return None
    if node.op_type == "Gemm" and node.inputs[0] in pooled and len(node.inputs) >= 2:
        if node.ints.get("transA", 0):
            return None
        return [
            Term(
                weight=node.inputs[1],
                bias=node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None,
                trans_b=bool(node.ints.get("transB", 0)),
                alpha=node.floats.get("alpha", 1.0),
                beta=node.floats.get("beta", 1.0),
                gains=(),
            )
        ]
    if node.op_type == "Identity":
        return _terms(graph, node.inputs[0], pooled, depth + 1)
    if node.op_type == "Add" and len(node.inputs) == 2:
        left = _terms(graph, node.inputs[0], pooled, depth + 1)
        right = _terms(graph, node.inputs[1], pooled, depth + 1)
        return None if left is None or right is None else left + right
    if node.op_type == "Mul" and len(node.inputs) == 2:
        for head, gain in (node.inputs, node.inputs[::-1]):
            inner = _terms(graph, head, pooled, depth + 1)
            if inner is not None and gain not in pooled:
                return [replace(t, gains=(*t.gains, gain)) for t in inner]
    return None


def find_head(graph: Graph) -> Head | None:
    """The model's pooled feature map and linear head (module doc), or None."""
    pools = [n for n in graph.nodes if n.op_type == "GlobalAveragePool"]
    if len(pools) != 1 or not graph.outputs:
        return None
    pooled = _pooled(graph, pools[0].outputs[0])
    terms = _terms(graph, graph.outputs[0], pooled)
    if not terms:
        return None
    return Head(pools[0].inputs[0], graph.outputs[0], tuple(terms))


class ItemMapper:
    """Each image's cell margins (best item logit less "no item"), from a copy of the model's
    graph that also outputs its feature map (module doc)."""

    def __init__(self, model: bytes, head: Head, background: int, options: ort.SessionOptions):
        self.head, self.background = head, background
        self._names = {head.features: FEATURES}
        for n, term in enumerate(head.terms):
            self._names.setdefault(term.weight, f"binwatch.item_map.weight{n}")
            if term.bias is not None:
                self._names.setdefault(term.bias, f"binwatch.item_map.bias{n}")
            for gain in term.gains:
                self._names.setdefault(gain, f"binwatch.item_map.gain.{gain}")
        self._session = ort.InferenceSession(
            with_outputs(model, self._names), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    @classmethod
    def open(
        cls, path: Path, background: int | None, options: ort.SessionOptions
    ) -> ItemMapper | None:
        """The mapper for the model file at `path`, or None where it cannot have one."""
        if background is None:
            return None
        model = path.read_bytes()
        try:
            head = find_head(read_graph(model))
        except (WireError, UnicodeDecodeError) as exc:
            log.info("%s: no item maps (the graph could not be read: %s)", path, exc)
            return None
        if head is None:
            log.info("%s: no item maps (no pooled feature map and linear head found)", path)
            return None
        try:
            return cls(model, head, background, options)
        except Exception as exc:  # onnxruntime raises several unrelated types
            log.info("%s: no item maps (%s)", path, str(exc).splitlines()[0] if str(exc) else exc)
            return None

    def run(self, tensor: Floats) -> tuple[Floats, list[Floats | None]]:
        """The model's own first output for a preprocessed N×3×H×W batch (the same graph, so
        the same numbers as the model alone), and each image's h×w cell margins; None for an
        image whose cells do not average to the model's own logits."""
        names = [self.head.logits, *self._names.values()]
        values = dict(zip(names, self._session.run(names, {self._input: tensor}), strict=True))
        first = np.asarray(values[self.head.logits], np.float32)
        features = np.asarray(values[FEATURES], np.float32)
        if features.ndim != 4:
            return first, [None] * len(tensor)
        count, channels, height, width = features.shape
        cells = features.reshape(count, channels, height * width).transpose(0, 2, 1)
        parts = []
        for term in self.head.terms:
            weight = np.asarray(values[self._names[term.weight]], np.float32)
            weight = weight.T if term.trans_b else weight  # channels × classes
            part = term.alpha * (cells @ weight)
            if term.bias is not None:
                part = part + term.beta * np.asarray(values[self._names[term.bias]], np.float32)
            for gain in term.gains:
                part = part * np.asarray(values[self._names[gain]], np.float32).reshape(
                    count, 1, -1
                )
            parts.append(part)
        logits = sum(parts[1:], parts[0])  # find_head gives one term at least
        model = first.reshape(count, -1)
        out: list[Floats | None] = []
        for n in range(count):
            cell = logits[n]
            spread = float(model[n].max() - model[n].min())
            if cell.shape[1] != model.shape[1] or np.abs(
                cell.mean(axis=0) - model[n]
            ).max() > TOLERANCE * max(spread, 1.0):
                out.append(None)
                continue
            items = np.delete(cell, self.background, axis=1)
            margin = items.max(axis=1) - cell[:, self.background]
            out.append(margin.reshape(height, width).astype(np.float32))
        return first, out


def peak_cells(margin: Floats, share: float) -> tuple[int, int, int, int] | None:
    """The cells (left, top, right, bottom; right and bottom exclusive) round the peak: those
    whose margin is at least `share` of the peak's, joined to it. None where no cell looks more
    like an item than like ground."""
    peak = float(margin.max())
    if not np.isfinite(peak) or peak <= 0:
        return None
    region = (margin >= share * peak).astype(np.uint8)
    _, parts = cv2.connectedComponents(region, connectivity=8)
    row, col = np.unravel_index(int(np.argmax(margin)), margin.shape)
    rows, cols = np.nonzero(parts == parts[row, col])
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
