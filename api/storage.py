"""Evidence images on disk under the data directory: only valid JPEGs are kept, re-encoded so
nothing but pixels survives (no EXIF, no trailing bytes), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from uuid import UUID

import cv2
import numpy as np

JPEG_QUALITY = 90
MAX_SIDE = 8192


class ImageRejectedError(ValueError):
    """The upload is not an image we keep; the message says why."""


def reencode_jpeg(data: bytes, limit: int) -> tuple[bytes, int, int]:
    """Decoded and re-encoded JPEG bytes with width and height, or ImageRejectedError."""
    if not data:
        raise ImageRejectedError("empty upload")
    if len(data) > limit:
        raise ImageRejectedError(f"image is {len(data)} bytes, the limit is {limit}")
    if not data.startswith(b"\xff\xd8\xff"):
        raise ImageRejectedError("not a JPEG (JPEG files start with FF D8 FF)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageRejectedError("the JPEG does not decode")
    height, width = image.shape[:2]
    if max(height, width) > MAX_SIDE:
        raise ImageRejectedError(
            f"image is {width}×{height}; the largest side allowed is {MAX_SIDE}"
        )
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ImageRejectedError("the image could not be re-encoded")
    return encoded.tobytes(), width, height


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EvidenceStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, event_id: UUID) -> Path:
        return self.root / event_id.hex[:2] / f"{event_id}.jpg"

    def put(self, event_id: UUID, jpeg: bytes) -> Path:
        target = self.path(event_id)
        write_atomic(target, jpeg)
        return target

    def get(self, event_id: UUID) -> bytes | None:
        target = self.path(event_id)
        return target.read_bytes() if target.is_file() else None

    def report_path(self, report_id: int) -> Path:
        return self.root / "reports" / f"{report_id}.jpg"
