"""Evidence images on disk under the data directory: only valid JPEGs are kept, re-encoded so
nothing but pixels survives (no EXIF, no trailing bytes), written atomically."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from uuid import UUID

import cv2
import numpy as np

from vision.errors import ImageError
from vision.faces import blur_faces
from vision.imagesize import MAX_PIXELS, MAX_SIDE, check_declared

JPEG_QUALITY = 90
DECODE_SLOTS = 2  # images decoded at once (each up to MAX_PIXELS × 3 bytes, ~120 MB)
DECODE_WAIT_S = 10.0
_decoding = threading.BoundedSemaphore(DECODE_SLOTS)


class ImageRejectedError(ValueError):
    """The upload is not an image we keep; the message says why."""


class DecoderBusyError(RuntimeError):
    """Every decode slot stayed taken for DECODE_WAIT_S (HTTP 503: try again later)."""


def reencode_jpeg(data: bytes, limit: int, blur: bool = False) -> tuple[bytes, int, int]:
    """Decoded and re-encoded JPEG bytes with width and height, or ImageRejectedError. The
    size the header declares is checked before anything is decoded, and at most DECODE_SLOTS
    images are decoded at once, so a burst of large uploads cannot take the memory. `blur`
    pixelates the faces in it first (a resident's photo; a device blurs its own evidence)."""
    if not data:
        raise ImageRejectedError("empty upload")
    if len(data) > limit:
        raise ImageRejectedError(f"image is {len(data)} bytes, the limit is {limit}")
    if not data.startswith(b"\xff\xd8\xff"):
        raise ImageRejectedError("not a JPEG (JPEG files start with FF D8 FF)")
    try:
        check_declared(data, MAX_PIXELS, MAX_SIDE)
    except ImageError as exc:
        raise ImageRejectedError(str(exc)) from None
    if not _decoding.acquire(timeout=DECODE_WAIT_S):
        raise DecoderBusyError("too many images are being decoded; try again in a minute")
    try:
        return _reencode(data, blur)
    finally:
        _decoding.release()


def _reencode(data: bytes, blur: bool) -> tuple[bytes, int, int]:
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None  # OpenCV's own limits (pixels, memory): rejected like any bad JPEG
    if image is None or image.size == 0:
        raise ImageRejectedError("the JPEG does not decode")
    height, width = image.shape[:2]
    if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
        raise ImageRejectedError(
            f"image is {width}×{height}; the most allowed is {MAX_PIXELS:,} pixels and "
            f"{MAX_SIDE} on a side"
        )
    if blur:
        image, _ = blur_faces(np.asarray(image, dtype=np.uint8))
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
