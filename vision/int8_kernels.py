"""Whether ONNX Runtime's default int8 kernels add this CPU's products exactly.

On x86 without VNNI (AVX2; AVX-512 without VNNI) ONNX Runtime's default u8s8 kernels add pairs
of u8 x s8 products in saturating 16-bit lanes (255 x 127 twice is 64,770, kept as 32,767): on
an AVX2 host that cost the shipped static int8 file 2.1 points of pooled test accuracy. Its u8u8
kernels (`PRECISE_KERNELS`) do not saturate, but on an AVX-512 VNNI host, where the
default ones add exactly, they ran the same file 1.8 times slower (models/README.md, "Speed").
So binwatch asks the CPU rather than guessing from its name: once per process it runs a small
graph (`data/int8_probe.onnx`: a MatMul and a 1x1 Conv, each over 64 products of 255 x 127, in
the QDQ form the shipped file uses) on the default kernels, and keeps them only where both sums
come out exact.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

PROBE = "data/int8_probe.onnx"
PRECISE_KERNELS = "session.x64quantprecision"  # ONNX Runtime's u8u8 kernels on x86
PRODUCTS = 64  # u8 x s8 products in each sum: 32 pairs, each over a 16-bit lane's range
EXACT = 255 * 127 * PRODUCTS  # 2,072,640; 32 saturated pairs give 1,048,544
CONV_SCALE = EXACT / 200  # the Conv's output quantization: the exact sum is code 200 of 255


def probe_graph() -> bytes:
    """The probe graph, as shipped in the package."""
    return resources.files("vision").joinpath(PROBE).read_bytes()


def probe_inputs() -> dict[str, np.ndarray]:
    """The probe graph's inputs: every activation at its u8 maximum."""
    return {
        "matmul_x": np.full((4, PRODUCTS), 255, np.float32),
        "conv_x": np.full((1, PRODUCTS, 1, 1), 255, np.float32),
    }


def sums_exact(session: ort.InferenceSession) -> bool:
    """Whether a session over the probe graph adds both sums as the math says."""
    matmul, conv = session.run(["matmul_y", "conv_y"], probe_inputs())
    conv_off = np.abs(np.asarray(conv) - EXACT)
    return bool(np.all(np.asarray(matmul) == EXACT) and np.all(conv_off < CONV_SCALE))


@functools.cache
def default_int8_exact() -> bool:
    """True where ONNX Runtime's default int8 kernels add exactly on this CPU (x86 with VNNI);
    False where they saturate, or where the probe cannot run (the safe answer)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(probe_graph(), options, providers=["CPUExecutionProvider"])
        exact = sums_exact(session)
    except Exception as exc:  # onnxruntime raises several unrelated types
        log.warning("int8 kernel probe failed (%s); using the kernels that do not saturate", exc)
        return False
    log.debug("ONNX Runtime's default int8 kernels add %s", "exactly" if exact else "saturating")
    return exact
