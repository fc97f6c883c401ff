"""What leaves the device about people: a keyed hash of a household's card (never the raw id),
and evidence images with faces blurred (`vision.faces`, which the service uses too)."""

from __future__ import annotations

import hashlib
import hmac

import cv2
import numpy as np
import numpy.typing as npt

from vision.faces import blur_faces

__all__ = ["blur_faces", "encode_jpeg", "pseudonym"]

Frame = npt.NDArray[np.uint8]


def pseudonym(card_id: str, key: str) -> str:
    """The household pseudonym the service knows: HMAC-SHA256 of the card id, 32 hex digits."""
    digest = hmac.new(key.encode(), card_id.strip().encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def encode_jpeg(image: Frame, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return bytes(data.tobytes())
