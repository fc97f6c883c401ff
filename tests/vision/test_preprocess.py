from __future__ import annotations

import numpy as np
import pytest

from vision.errors import ImageError
from vision.metadata import PreprocessSpec
from vision.preprocess import preprocess

SPEC = PreprocessSpec(input_size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _bgr(h: int, w: int, bgr: tuple[int, int, int]) -> np.ndarray:
    return np.full((h, w, 3), bgr, dtype=np.uint8)


def test_values_are_normalised_in_rgb_order() -> None:
    out = preprocess([_bgr(10, 10, (0, 128, 255))], SPEC, "bgr")
    assert out.shape == (1, 3, 32, 32) and out.dtype == np.float32
    # red (255) → +1, green (128) → ~0, blue (0) → -1, in R, G, B planes
    centre = out[0, :, 16, 16]
    np.testing.assert_allclose(centre, [1.0, 128 / 127.5 - 1, -1.0], atol=1e-6)


def test_bgr_and_rgb_inputs_give_the_same_tensor() -> None:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    np.testing.assert_array_equal(preprocess([bgr], SPEC, "bgr"), preprocess([rgb], SPEC, "rgb"))


def test_network_in_bgr_order_gets_bgr_planes() -> None:
    spec = SPEC.model_copy(update={"channels": "bgr"})
    out = preprocess([_bgr(8, 8, (0, 0, 255))], spec, "bgr")
    np.testing.assert_allclose(out[0, :, 4, 4], [-1.0, -1.0, 1.0])


@pytest.mark.parametrize(
    ("h", "w", "content_rows", "content_cols"),
    [
        (20, 40, (8, 24), (0, 32)),  # wide: bands of padding above and below
        (40, 20, (0, 32), (8, 24)),  # tall: padding left and right
        (64, 64, (0, 32), (0, 32)),  # square: no padding
        (5, 500, (16, 16), (0, 32)),  # a sliver keeps at least one row
    ],
)
def test_letterbox_keeps_aspect_and_pads_with_pad_value(
    h: int, w: int, content_rows: tuple[int, int], content_cols: tuple[int, int]
) -> None:
    out = preprocess([_bgr(h, w, (255, 255, 255))], SPEC, "bgr")[0, 0]
    content = out > 0.99
    rows = np.flatnonzero(content.any(axis=1))
    cols = np.flatnonzero(content.any(axis=0))
    assert abs(rows[0] - content_rows[0]) <= 1 and abs(rows[-1] + 1 - content_rows[1]) <= 1
    assert abs(cols[0] - content_cols[0]) <= 1 and abs(cols[-1] + 1 - content_cols[1]) <= 1
    pad = (SPEC.pad_value / 255 - 0.5) / 0.5
    assert np.allclose(out[~content], pad, atol=1e-6)


def test_center_crop_cuts_the_long_side_and_stretch_fills() -> None:
    # left half black, right half white, 20×80: centre crop keeps the middle 20×20, half each
    image = np.zeros((20, 80, 3), np.uint8)
    image[:, 40:] = 255
    crop = preprocess([image], SPEC.model_copy(update={"resize": "center_crop"}), "bgr")[0, 0]
    assert (crop[:, :14] < -0.99).all() and (crop[:, 18:] > 0.99).all()
    stretch = preprocess([image], SPEC.model_copy(update={"resize": "stretch"}), "bgr")[0, 0]
    assert (stretch[:, :15] < -0.99).all() and (stretch[:, 17:] > 0.99).all()


def test_grey_and_alpha_images_are_accepted() -> None:
    grey = np.full((10, 10), 255, np.uint8)
    bgra = np.full((10, 10, 4), 255, np.uint8)
    out = preprocess([grey, bgra], SPEC, "bgr")
    assert out.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "uint8 image, got dtype float32"),
        (np.zeros((10, 10, 2), np.uint8), r"got shape \(10, 10, 2\)"),
        (np.zeros((0, 10, 3), np.uint8), "non-empty image"),
        (np.zeros((2, 10, 10, 3), np.uint8), "got shape"),
        ([[1, 2]], "numpy array, got list"),
    ],
)
def test_bad_images_say_expected_and_actual(image: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        preprocess([image], SPEC)


def test_empty_batch_is_an_error() -> None:
    with pytest.raises(ImageError, match="at least one image"):
        preprocess([], SPEC)
