"""train.grey_prior: the shift per label, and a file that reads grey frames with it and colour
frames exactly as before."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.tiny_model import PROTOTYPES, build_tiny_model, tiny_metadata
from train.grey_head import GreyDelta, add_grey_head, read_grey_head
from train.grey_prior import prior_shift, with_grey_prior
from vision.classifier import session_options
from vision.errors import ModelError
from vision.metadata import BACKGROUND
from vision.preprocess import preprocess
from vision.taxonomy import Category, load_profile

LABELS = (*PROTOTYPES, BACKGROUND)
NATIONAL = load_profile("national")


def test_the_shift_weighs_each_category_the_same_at_alpha_one() -> None:
    shift = prior_shift(LABELS, NATIONAL, 1.0)
    assert shift[LABELS.index(BACKGROUND)] == 0.0
    items = [label for label in LABELS if label != BACKGROUND]
    assert np.isclose(np.mean([shift[LABELS.index(label)] for label in items]), 0.0, atol=1e-6)
    # each category's labels together: the same weight once multiplied by exp(shift)
    weight = {
        c: sum(
            np.exp(shift[LABELS.index(label)])
            for label in items
            if NATIONAL.category_of(label) == c
        )
        for c in Category
    }
    assert np.allclose(list(weight.values()), weight[Category.KITCHEN], rtol=1e-5)
    assert np.allclose(prior_shift(LABELS, NATIONAL, 0.5), shift / 2)
    assert not prior_shift(LABELS, NATIONAL, 0.0).any()
    with pytest.raises(ValueError, match="alpha"):
        prior_shift(LABELS, NATIONAL, -0.5)


def _logits(model: onnx.ModelProto, images: list[np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(
        model.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"]
    )
    spec = tiny_metadata().preprocess
    out: np.ndarray = session.run(None, {"image": preprocess(images, spec)})[0]
    return out


def test_grey_frames_move_by_the_shift_and_colour_frames_not_at_all() -> None:
    base = build_tiny_model(LABELS, sharpness=5.0)
    rng = np.random.default_rng(0)
    head = rng.normal(0, 1, (len(LABELS), 3)).astype(np.float32)
    delta = GreyDelta(head, rng.normal(0, 1, len(LABELS)).astype(np.float32), 2.0 / (0.5 * 255))
    model = add_grey_head(base, delta)
    colour = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grey = np.repeat(colour[:, :, :1], 3, axis=2)
    shift = prior_shift(LABELS, NATIONAL, 0.5)
    moved = with_grey_prior(model, shift)
    before, after = _logits(model, [colour, grey]), _logits(moved, [colour, grey])
    assert np.array_equal(before[0], after[0])  # a colour frame: the same logits, to the bit
    assert np.allclose(after[1] - before[1], shift, atol=1e-5)
    kept = read_grey_head(moved)
    assert kept is not None and np.array_equal(kept.weight, delta.weight)
    source = read_grey_head(model)
    assert source is not None and kept.threshold == source.threshold  # as the file stores it


def test_a_model_without_a_grey_correction_or_of_another_size_is_refused() -> None:
    base = build_tiny_model(LABELS)
    with pytest.raises(ModelError, match="no grey correction"):
        with_grey_prior(base, prior_shift(LABELS, NATIONAL, 0.5))
    delta = GreyDelta(np.zeros((len(LABELS), 3), np.float32), np.zeros(len(LABELS), np.float32),
                      0.01)  # fmt: skip
    with pytest.raises(ModelError, match="outputs"):
        with_grey_prior(add_grey_head(base, delta), np.zeros(3, np.float32))
