"""Two int8 forms of an exported float model; `binwatch export` keeps one only when its test
accuracy stays within `--max-int8-drop` points of float32.

- static: QDQ int8 weights and activations, calibrated on real images (`QUANTIZED_OPS`: the
  convolutions, their activations and additions, the pooling; the heads' Gemm stays float, so
  `binwatch retrain` reads its W and b as they are). ONNX Runtime runs it with its int8 kernels,
  1.4-1.7 times as fast as the float convolutions on an AVX-512/AMX host (models/README.md,
  lite0-waste-2.10). `static_form` makes it from any binwatch file, a static one included;
- weights: int8 weights, symmetric per output channel with the clipping that minimises each
  channel's squared error; the depthwise and stem convolutions (under 3 % of the parameters,
  and the most sensitive) stay float32. ONNX Runtime dequantizes once at load
  (`ModelMetadata.quantization == "int8-weights"`), so inference runs at float32 speed from a
  file a third the size.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from train.graph import float_weights, strip_activation_qdq
from train.head import _gemm
from train.manifest import Sample
from vision.imageio import read_image
from vision.metadata import ModelMetadata, PreprocessSpec, embed_metadata
from vision.preprocess import Image, preprocess

QUANTIZED_OPS = ["Conv", "Add", "Clip", "GlobalAveragePool"]


class _Calibration(CalibrationDataReader):  # type: ignore[misc]
    """Batches of photos (a Sample is read when its batch comes up) as the model's input."""

    def __init__(self, images: Sequence[Sample | Image], spec: PreprocessSpec, batch: int = 16):
        self._batches = [images[i : i + batch] for i in range(0, len(images), batch)]
        self._spec = spec

    def get_next(self) -> dict[str, np.ndarray] | None:
        if not self._batches:
            return None
        chunk = self._batches.pop(0)
        read = [read_image(x.path) if isinstance(x, Sample) else x for x in chunk]
        return {"image": preprocess(read, self._spec, "bgr")}


def outside_body(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that do not lead to the head's features (the heads' Gemm, a grey
    head's correction and its sum with the logits): a static form keeps them float, so the
    logits are never rounded to uint8. Unnamed nodes are named first (the quantizer excludes by
    name)."""
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type.lower()}_{i}"
    producers = {out: node for node in model.graph.node for out in node.output}
    body, pending = set(), [_gemm(model).input[0]]
    while pending:
        node = producers.get(pending.pop())
        if node is not None and node.name not in body:
            body.add(node.name)
            pending.extend(name for name in node.input if name)
    return [node.name for node in model.graph.node if node.name not in body]


def quantize_static_int8(
    source: Path,
    target: Path,
    calibration: Sequence[Sample | Image],
    spec: PreprocessSpec,
    method: CalibrationMethod = CalibrationMethod.MinMax,
    keep_float: Sequence[str] = (),
    extra: dict[str, object] | None = None,
    weight_bits: int = 8,
) -> None:
    """Static int8 (QDQ, per-channel int8 weights, uint8 activations) of a float graph,
    calibrated on real images; what follows the head's features stays float (`outside_body`),
    and so do the nodes named in `keep_float`. `weight_bits` 7 keeps every weight within
    ±64 (ONNX Runtime's `reduce_range`), so no pair of u8 x s8 products can saturate the
    default kernels of a CPU without VNNI; it cost the shipped weights 1.25 points of pooled
    test accuracy (models/README.md, "Speed"), and binwatch's kernel choice
    (`vision.int8_kernels`) reads the CPU, not the file."""
    if weight_bits not in (7, 8):
        raise ValueError(f"weight_bits must be 7 or 8, not {weight_bits}")
    with tempfile.TemporaryDirectory() as tmp:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        model = onnx.load(str(prepared))
        keep = [*outside_body(model), *keep_float]
        # a ReLU6 kept as a node, not folded into its quantizer's range: stripped of its QDQ
        # pairs (`float_view`), the graph still clips
        options = {"QDQKeepRemovableActivations": True, **(extra or {})}
        onnx.save(model, str(prepared))
        quantize_static(str(prepared), str(target), _Calibration(calibration, spec),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=method, op_types_to_quantize=QUANTIZED_OPS,
                        reduce_range=weight_bits == 7,
                        nodes_to_exclude=keep, extra_options=options)  # fmt: skip
    onnx.checker.check_model(str(target))


def calibration_photos(
    base_train: Sequence[Sample], field_train: Sequence[Sample], per_label: int = 20
) -> list[Sample]:
    """What a static form's activation ranges are measured on: the first `per_label` training
    photos of each label (the "no item" crops included, where given) and up to 100 reviewed
    ones (a retrain's)."""
    by_label: dict[str, list[Sample]] = {}
    for sample in base_train:
        by_label.setdefault(sample.label, []).append(sample)
    chosen = [s for label in sorted(by_label) for s in by_label[label][:per_label]]
    return chosen + list(field_train[:: max(1, len(field_train) // 100)][:100])


def field_calibration(samples: Sequence[Sample]) -> list[Sample | Image]:
    """What a static form's activation ranges are measured on: the photos as they are, then
    every other one as a night/IR camera sees it (`train.augment.night_check`) and the rest
    placed on drawn floors (`field_view_augmenter(3)`): the ranges a camera's frames reach by
    day and by night (calibrated on the photos alone, the pooled test at night lost 1.5 points
    of macro recall against 0.1 with these views: models/README.md, lite0-waste-2.10)."""
    from train.augment import field_view_augmenter, night_check

    placed = field_view_augmenter(3)
    night = [night_check(read_image(s.path)) for s in samples[::2]]
    return [*samples, *night, *[placed(read_image(s.path)) for s in samples[1::2]]]


def float_view(model: onnx.ModelProto) -> onnx.ModelProto:
    """The float graph behind any binwatch file: activations unquantized, weights float32."""
    return float_weights(strip_activation_qdq(model))


def static_form(
    model: onnx.ModelProto,
    target: Path,
    calibration: Sequence[Sample | Image],
    metadata: ModelMetadata,
    weight_bits: int = 8,
) -> None:
    """`model` (float, int8 weights or static already) as a static int8 file at `target`,
    calibrated (min-max) on `calibration`, carrying `metadata` marked `int8-static`; its
    weights within ±64 where `weight_bits` is 7 (`quantize_static_int8`)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "float.onnx"
        onnx.save(float_view(model), str(source))
        quantize_static_int8(source, target, calibration, metadata.preprocess,
                             weight_bits=weight_bits)  # fmt: skip
    static = onnx.load(str(target))
    del static.metadata_props[:]
    embed_metadata(static, metadata.model_copy(update={"quantization": "int8-static"}))
    onnx.save(static, str(target))


def channel_scales(weight: npt.NDArray[np.float32], steps: int = 26) -> npt.NDArray[np.float32]:
    """Per output channel, the int8 scale whose clipping range (50-100 % of the channel's largest
    magnitude) gives the smallest squared rounding error."""
    flat = weight.reshape(weight.shape[0], -1)
    peak = np.abs(flat).max(axis=1)
    best_range, best_error = peak.copy(), np.full(len(peak), np.inf)
    for fraction in np.linspace(0.5, 1.0, steps):
        scale = np.where(peak > 0, peak * fraction / 127, 1.0)[:, None]
        error = ((np.clip(np.round(flat / scale), -127, 127) * scale - flat) ** 2).sum(axis=1)
        better = error < best_error
        best_error[better], best_range[better] = error[better], (peak * fraction)[better]
    return np.where(best_range > 0, best_range / 127, 1.0).astype(np.float32)


def quantize_channels(
    weight: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Symmetric int8 per output channel (axis 0) with `channel_scales`: (q, scale);
    q × scale (scale broadcast along axis 0) is what a DequantizeLinear gives back."""
    scale = channel_scales(weight)
    shaped = scale.reshape(-1, *([1] * (weight.ndim - 1)))
    return np.clip(np.round(weight / shaped), -127, 127).astype(np.int8), scale


def quantize_weights_int8(source: Path, target: Path) -> int:
    """Int8 weights for the dense convolutions and the classifier; returns how many tensors."""
    model = onnx.load(str(source))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    first_conv = next(n for n in graph.node if n.op_type == "Conv")
    dequantize = []
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm") or node.input[1] not in initializers:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node is first_conv or group > 1:
            continue
        name = node.input[1]
        weight = numpy_helper.to_array(initializers[name]).astype(np.float32)
        q, scale = quantize_channels(weight)
        graph.initializer.remove(initializers[name])
        graph.initializer.extend([
            numpy_helper.from_array(q, f"{name}_int8"),
            numpy_helper.from_array(scale, f"{name}_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{name}_zero"),
        ])  # fmt: skip
        dequantize.append(helper.make_node("DequantizeLinear",
                                           [f"{name}_int8", f"{name}_scale", f"{name}_zero"],
                                           [name], name=f"{name}_dequantize", axis=0))  # fmt: skip
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequantize + nodes)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(target))
    return len(dequantize)


def weights_form(model: onnx.ModelProto) -> onnx.ModelProto:
    """Any binwatch graph (a static one included) in the `int8-weights` form (`binwatch export`'s
    `quantize_weights_int8` over its float graph; a grey head's correction kept float): for a host
    whose int8 kernels are slower than its float ones. The metadata is left to the caller."""
    from train.grey_head import add_grey_head, drop_grey_head, read_grey_head

    plain = float_view(model)
    delta = read_grey_head(plain)
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "weights.onnx"
        onnx.save(drop_grey_head(plain), str(source))
        quantize_weights_int8(source, target)
        out = onnx.load(str(target))
    return out if delta is None else add_grey_head(out, delta)
