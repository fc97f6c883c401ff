"""The int8 kernel probe (vision.int8_kernels): its graph is the one built here, it answers as
the CPU's own flags say, and binwatch's sessions add exactly whatever it answers.

Rebuild the probe file: `python -m tests.vision.test_int8_kernels`."""

from __future__ import annotations

import platform
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from vision import int8_kernels
from vision.classifier import session_options
from vision.int8_kernels import (
    CONV_SCALE,
    PRECISE_KERNELS,
    PRODUCTS,
    default_int8_exact,
    sums_exact,
)

PRECISE = PRECISE_KERNELS


def build_probe() -> onnx.ModelProto:
    """A MatMul and a 1x1 Conv, each over PRODUCTS u8 x s8 products, in QDQ form (activations
    u8, weights s8 with zero point 0, as the shipped static file), so ONNX Runtime fuses them into
    its integer kernels."""
    k = PRODUCTS

    def qdq(name: str, zero: np.ndarray, scale: float = 1.0) -> list[onnx.NodeProto]:
        """Quantize then dequantize `name`, with its own scale and zero point (ONNX Runtime's
        u8u8 rewrite of an s8 weight refuses initializers two nodes share)."""
        scale_zero = [f"{name}_scale", f"{name}_zero"]
        constants.append(numpy_helper.from_array(np.array(scale, np.float32), scale_zero[0]))
        constants.append(numpy_helper.from_array(zero, scale_zero[1]))
        if name.endswith("_w"):  # a weight: stored as s8, dequantized
            return [helper.make_node("DequantizeLinear", [name, *scale_zero], [f"{name}_d"])]
        return [
            helper.make_node("QuantizeLinear", [name, *scale_zero], [f"{name}_q"]),
            helper.make_node("DequantizeLinear", [f"{name}_q", *scale_zero], [f"{name}_d"]),
        ]

    u8, s8 = np.array(0, np.uint8), np.array(0, np.int8)
    constants = [
        numpy_helper.from_array(np.full((k, 8), 127, np.int8), "matmul_w"),
        numpy_helper.from_array(np.full((8, k, 1, 1), 127, np.int8), "conv_w"),
    ]
    nodes = [
        *qdq("matmul_x", u8), *qdq("matmul_w", s8),
        helper.make_node("MatMul", ["matmul_x_d", "matmul_w_d"], ["matmul_y"]),
        *qdq("conv_x", u8), *qdq("conv_w", s8),
        helper.make_node("Conv", ["conv_x_d", "conv_w_d"], ["conv_sum"]),
        *qdq("conv_sum", u8, CONV_SCALE),
        helper.make_node("Identity", ["conv_sum_d"], ["conv_y"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "int8-probe",
        [helper.make_tensor_value_info("matmul_x", TensorProto.FLOAT, [4, k]),
         helper.make_tensor_value_info("conv_x", TensorProto.FLOAT, [1, k, 1, 1])],
        [helper.make_tensor_value_info("matmul_y", TensorProto.FLOAT, [4, 8]),
         helper.make_tensor_value_info("conv_y", TensorProto.FLOAT, [1, 8, 1, 1])],
        constants,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.producer_name = "tests.vision.test_int8_kernels"
    onnx.checker.check_model(model)
    return model


def shipped_probe() -> Path:
    return Path(str(resources.files("vision").joinpath(int8_kernels.PROBE)))


def test_the_probe_file_is_the_graph_built_here() -> None:
    assert onnx.load(shipped_probe()) == build_probe()


def session(precise: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if precise:
        options.add_session_config_entry(PRECISE, "1")
    return ort.InferenceSession(str(shipped_probe()), options, providers=["CPUExecutionProvider"])


def test_the_kernels_that_do_not_saturate_add_the_probe_exactly() -> None:
    """The probe's arithmetic is right: where the sums are exact it says so."""
    assert sums_exact(session(precise=True))


def cpu_flags() -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def test_the_probe_answers_as_the_cpu_flags_say() -> None:
    """x86 with VNNI (AVX-512 VNNI or AVX-VNNI): the default kernels add exactly and binwatch
    keeps them (1.8 times faster there); x86 without it: they saturate and the probe says so."""
    flags = cpu_flags()
    if platform.machine() not in ("x86_64", "AMD64") or flags is None:
        pytest.skip("the CPU's flags are read from Linux's /proc/cpuinfo on x86")
    vnni = bool(flags & {"avx512_vnni", "avx_vnni"})
    assert default_int8_exact() is vnni
    assert sums_exact(session(precise=False)) is vnni


def precise_entry(options: ort.SessionOptions) -> str | None:
    try:
        return str(options.get_session_config_entry(PRECISE))
    except RuntimeError:  # "does not have configuration with key"
        return None


@pytest.mark.parametrize("exact", [True, False])
def test_sessions_ask_for_the_precise_kernels_only_where_the_default_ones_saturate(
    monkeypatch: pytest.MonkeyPatch, exact: bool
) -> None:
    monkeypatch.setattr("vision.classifier.default_int8_exact", lambda: exact)
    assert precise_entry(session_options(1)) == (None if exact else "1")
    # bench.inference timing what the saturating kernels cost never asks
    assert precise_entry(session_options(1, precise_int8=False)) is None


if __name__ == "__main__":
    onnx.save(build_probe(), shipped_probe())
    print(f"wrote {shipped_probe()}")
