"""Int8 weight quantization: per-channel scales that minimise the rounding error, and the
static form's seven-bit weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from train.quantize import channel_scales, quantize_static_int8
from vision.metadata import PreprocessSpec


def _error(weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    flat = weight.reshape(weight.shape[0], -1)
    q = np.clip(np.round(flat / scale[:, None]), -127, 127)
    return np.asarray(((q * scale[:, None] - flat) ** 2).sum(axis=1))


def test_scales_never_worse_than_the_peak_and_clip_outliers() -> None:
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, size=(16, 8, 3, 3)).astype(np.float32)
    weight[3, 0, 0, 0] = 2.0  # one outlier in channel 3
    weight[5] = 0.0  # an all-zero channel
    scales = channel_scales(weight)
    peak = np.abs(weight.reshape(16, -1)).max(axis=1)
    plain = np.where(peak > 0, peak / 127, 1.0)
    assert scales.shape == (16,) and scales.dtype == np.float32
    assert np.all(_error(weight, scales) <= _error(weight, plain) + 1e-12)
    assert scales[5] == 1.0  # zero channel: any scale, no division by zero
    assert 0.5 * plain[3] <= scales[3] <= plain[3]


def _tiny_float_graph(path: Path) -> None:
    """Conv 3 -> 16 (3x3), Clip, Conv 16 -> 16 (1x1), pooled, a Gemm head: what
    `quantize_static_int8` needs (the Gemm marks where the body ends)."""
    rng = np.random.default_rng(1)
    weights = {
        "w1": rng.normal(0, 0.3, (16, 3, 3, 3)), "b1": rng.normal(0, 0.1, 16),
        "w2": rng.normal(0, 0.3, (16, 16, 1, 1)), "b2": rng.normal(0, 0.1, 16),
        "wh": rng.normal(0, 0.3, (4, 16)), "bh": np.zeros(4),
        "lo": np.array(0.0), "hi": np.array(6.0),
    }  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
        helper.make_node("GlobalAveragePool", ["c2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
        helper.make_node("Gemm", ["features", "wh", "bh"], ["logits"], transB=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 4])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _int8_peak(path: Path) -> int:
    model = onnx.load(str(path))
    return max(
        int(np.abs(numpy_helper.to_array(i).astype(np.int32)).max())
        for i in model.graph.initializer
        if i.data_type == TensorProto.INT8
    )


def test_seven_bit_weights_stay_within_64(tmp_path: Path) -> None:
    """`weight_bits` 7 (ONNX Runtime's reduce_range): every int8 weight within ±64, so pairs of
    u8 x s8 products fit a 16-bit lane (models/README.md, "Speed": tried, and lost)."""
    source = tmp_path / "float.onnx"
    _tiny_float_graph(source)
    spec = PreprocessSpec(input_size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    rng = np.random.default_rng(2)
    photos = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    peaks = {}
    for bits in (8, 7):
        target = tmp_path / f"static{bits}.onnx"
        quantize_static_int8(source, target, photos, spec, weight_bits=bits)
        peaks[bits] = _int8_peak(target)
    assert peaks == {8: 127, 7: 64}
    with pytest.raises(ValueError, match="7 or 8"):
        quantize_static_int8(source, tmp_path / "x.onnx", photos, spec, weight_bits=6)
