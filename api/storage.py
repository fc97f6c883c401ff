"""Evidence images: only valid JPEGs are kept, re-encoded so nothing but pixels survives (no
EXIF, no trailing bytes), and stored in the object store (`api/objects.py`) by event or report
id, written atomically."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING
from uuid import UUID

import cv2
import numpy as np

from api.objects import LocalStore, ObjectStore, evidence_key, report_key
from vision.errors import ImageError
from vision.faces import blur_faces
from vision.imagesize import MAX_PIXELS, MAX_SIDE, check_declared

if TYPE_CHECKING:
    from api.settings import Settings

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


class EvidenceStore:
    """Evidence images by event id and report photos by report id, in the object store."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    def put(self, event_id: UUID, jpeg: bytes) -> None:
        self.objects.put(evidence_key(event_id), jpeg)

    def get(self, event_id: UUID) -> bytes | None:
        return self.objects.get(evidence_key(event_id))

    def delete(self, event_id: UUID) -> None:
        self.objects.delete(evidence_key(event_id))

    def put_report(self, report_id: int, jpeg: bytes) -> None:
        self.objects.put(report_key(report_id), jpeg)

    def get_report(self, report_id: int) -> bytes | None:
        return self.objects.get(report_key(report_id))

    def delete_report(self, report_id: int) -> None:
        self.objects.delete(report_key(report_id))


_BUCKETS: dict[tuple[str, str | None], ObjectStore] = {}


def objects_for(settings: Settings) -> ObjectStore:
    """The service's object store: the bucket of `BINWATCH_STORAGE_URL` (s3://bucket/prefix),
    else the data directory (`BINWATCH_DATA_DIR`)."""
    if settings.storage_url is None:
        return LocalStore(settings.data_dir)
    key = (settings.storage_url, os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _BUCKETS:  # one client per bucket (and endpoint) and process
        from api.objects_s3 import S3Store

        _BUCKETS[key] = S3Store.from_url(settings.storage_url)
    return _BUCKETS[key]


def evidence_for(settings: Settings) -> EvidenceStore:
    return EvidenceStore(objects_for(settings))
