"""The one preprocessing function: uint8 images of any size to a model's input tensor.

Training evaluation, export checks and the device all call `preprocess`; the model's metadata
(`PreprocessSpec`) says how. Augmentation for training lives in train/, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from vision.errors import ImageError
from vision.metadata import PreprocessSpec

ChannelOrder = Literal["bgr", "rgb"]
Image = npt.NDArray[np.uint8]
Tensor = npt.NDArray[np.float32]


def _as_three_channels(image: Image) -> Image:
    """Validate one image and return it as H×W×3 in `order`."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise ImageError(f"expected an H×W, H×W×3 or H×W×4 image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"expected a non-empty image, got shape {image.shape}")
    return image


def _resize(image: Image, spec: PreprocessSpec) -> Image:
    out_h, out_w = spec.input_size
    h, w = image.shape[:2]
    if spec.resize == "stretch":
        return _scaled(image, out_w, out_h, shrinking=out_w * out_h < w * h)
    if spec.resize == "center_crop":
        scale = max(out_w / w, out_h / h)
        new_w, new_h = max(out_w, round(w * scale)), max(out_h, round(h * scale))
        scaled = _scaled(image, new_w, new_h, shrinking=scale < 1)
        top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
        return scaled[top : top + out_h, left : left + out_w]
    scale = min(out_w / w, out_h / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = _scaled(image, new_w, new_h, shrinking=scale < 1)
    canvas = np.full((out_h, out_w, 3), spec.pad_value, dtype=np.uint8)
    top, left = (out_h - new_h) // 2, (out_w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = scaled
    return canvas


def input_to_photo(
    box: tuple[float, float, float, float], photo: tuple[int, int], spec: PreprocessSpec
) -> tuple[float, float, float, float]:
    """A box in the network's input pixels (left, top, right, bottom) in the photo's pixels,
    the inverse of `_resize` for a photo of (height, width) `photo`, clipped to the photo."""
    out_h, out_w = spec.input_size
    h, w = photo
    left, top, right, bottom = box
    if spec.resize == "stretch":
        sx, sy, ox, oy = out_w / w, out_h / h, 0.0, 0.0
    elif spec.resize == "center_crop":
        scale = max(out_w / w, out_h / h)
        new_w, new_h = max(out_w, round(w * scale)), max(out_h, round(h * scale))
        sx, sy = new_w / w, new_h / h
        ox, oy = -float((new_w - out_w) // 2), -float((new_h - out_h) // 2)
    else:
        scale = min(out_w / w, out_h / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        sx, sy = new_w / w, new_h / h
        ox, oy = float((out_w - new_w) // 2), float((out_h - new_h) // 2)
    return (
        min(max((left - ox) / sx, 0.0), float(w)),
        min(max((top - oy) / sy, 0.0), float(h)),
        min(max((right - ox) / sx, 0.0), float(w)),
        min(max((bottom - oy) / sy, 0.0), float(h)),
    )


def _scaled(image: Image, width: int, height: int, *, shrinking: bool) -> Image:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation), np.uint8)


def preprocess(
    images: Sequence[Image], spec: PreprocessSpec, order: ChannelOrder = "bgr"
) -> Tensor:
    """Turn uint8 images (`order` says whether they are BGR, as OpenCV reads, or RGB) into an
    N×3×H×W float32 tensor: resized as the spec says, in the network's channel order,
    scaled to 0..1, normalised by the spec's mean and std."""
    if order not in ("bgr", "rgb"):
        raise ValueError(f"order must be 'bgr' or 'rgb', got {order!r}")
    if len(images) == 0:
        raise ImageError("expected at least one image, got none")
    out_h, out_w = spec.input_size
    batch = np.empty((len(images), out_h, out_w, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        batch[index] = _resize(_as_three_channels(image), spec)
    planes = batch.transpose(0, 3, 1, 2)  # a view: N×3×H×W, still uint8
    if order != spec.channels:
        planes = planes[:, ::-1]
    mean = (np.asarray(spec.mean, dtype=np.float32) * 255.0)[:, None, None]
    inv_std = (1.0 / (np.asarray(spec.std, dtype=np.float32) * 255.0))[:, None, None]
    # one pass from the uint8 view into a contiguous float32 tensor (no float HWC copy)
    tensor = np.empty((len(images), 3, out_h, out_w), dtype=np.float32)
    np.subtract(planes, mean, out=tensor, casting="unsafe")
    tensor *= inv_std
    return tensor
