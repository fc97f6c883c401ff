"""The activations at a cut (train.tail) of images, as retrain reads them: for tests that fit
blocks on a few made-up photos."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime as ort

from train.tail import with_outputs
from vision.classifier import session_options
from vision.metadata import parse_metadata
from vision.preprocess import preprocess


def cut_rows(model: onnx.ModelProto, cut: str, images: Sequence[np.ndarray]) -> np.ndarray:
    graph = with_outputs(model, [cut]).SerializeToString()
    session = ort.InferenceSession(graph, session_options(1), providers=["CPUExecutionProvider"])
    spec = parse_metadata(session.get_modelmeta().custom_metadata_map, "shipped").preprocess
    return np.asarray(session.run([cut], {"image": preprocess(list(images), spec)})[0])
