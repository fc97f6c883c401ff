"""Two int8 forms of an exported float model; `binwatch export` keeps one only when its test
accuracy stays within `--max-int8-drop` points of float32.

- static: QDQ int8 weights and activations, calibrated on real training images (fastest, but on
  EfficientNet-Lite0 the activation ranges after the depthwise and projection convolutions cost
  several points of accuracy);
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
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from train.manifest import Sample
from vision.imageio import read_image
from vision.metadata import PreprocessSpec
from vision.preprocess import preprocess


class _Calibration(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, samples: Sequence[Sample], spec: PreprocessSpec, batch: int = 16):
        self._batches = [samples[i : i + batch] for i in range(0, len(samples), batch)]
        self._spec = spec

    def get_next(self) -> dict[str, np.ndarray] | None:
        if not self._batches:
            return None
        chunk = self._batches.pop(0)
        return {"image": preprocess([read_image(s.path) for s in chunk], self._spec, "bgr")}


def quantize_static_int8(
    source: Path, target: Path, calibration: Sequence[Sample], spec: PreprocessSpec
) -> None:
    """Static int8 (QDQ, per-channel weights) calibrated on real training images."""
    with tempfile.TemporaryDirectory() as tmp:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(target), _Calibration(calibration, spec),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)  # fmt: skip
    onnx.checker.check_model(str(target))


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
