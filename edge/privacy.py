"""What leaves the device about people: a keyed hash of a household's card (never the raw id),
and evidence images with faces blurred."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
Frame = npt.NDArray[np.uint8]


def pseudonym(card_id: str, key: str) -> str:
    """The household pseudonym the service knows: HMAC-SHA256 of the card id, 32 hex digits."""
    digest = hmac.new(key.encode(), card_id.strip().encode(), hashlib.sha256).hexdigest()
    return digest[:32]


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
    faces = detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    out = image.copy()
    for x, y, w, h in faces:
        pad = int(0.2 * max(w, h))
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(out.shape[1], x + w + pad), min(out.shape[0], y + h + pad)
        region = out[y0:y1, x0:x1]
        small = cv2.resize(
            region, (max(1, (x1 - x0) // 12), max(1, (y1 - y0) // 12)), interpolation=cv2.INTER_AREA
        )
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return out, len(faces)


def encode_jpeg(image: Frame, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return bytes(data.tobytes())
