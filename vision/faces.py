"""Faces in an image pixelated beyond recognition: the device blurs its evidence before upload,
the service blurs the photos residents send with a report. OpenCV's bundled Haar cascade finds
frontal faces; without it nothing is kept unblurred (RuntimeError)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
Frame = npt.NDArray[np.uint8]
BLOCKS = 6  # mosaic blocks across a blurred face (and its 20 % margin)
DETECT_SIDE = 2048  # faces are looked for at most this large: ≥ 24 px there (~96 px at 8192)


@functools.cache
def _face_detector() -> cv2.CascadeClassifier | None:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        log.error("face detector not found at %s: faces cannot be blurred", path)
        return None
    return detector


def blur_faces(image: Frame) -> tuple[Frame, int]:
    """A copy with every detected face pixelated beyond recognition, and how many."""
    detector = _face_detector()
    if detector is None:
        raise RuntimeError("no face detector: refusing to keep an image unblurred")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, DETECT_SIDE / max(grey.shape[:2]))
    if scale < 1.0:  # a 39-megapixel phone photo took seconds at full size
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    faces = [[round(float(v) / scale) for v in box] for box in found]
    out = image.copy()
    for x, y, w, h in faces:
        pad = int(0.2 * max(w, h))
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(out.shape[1], x + w + pad), min(out.shape[0], y + h + pad)
        region = out[y0:y1, x0:x1]
        # a face BLOCKS blocks across: 12-pixel blocks left a face the detector still found
        small = cv2.resize(region, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return out, len(faces)
