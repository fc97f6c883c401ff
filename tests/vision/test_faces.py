"""Face blurring on a real portrait: scikit-image's bundled `astronaut()` (public domain, NASA),
a test fixture, never training data."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from vision.faces import _face_detector, blur_faces


def faces_in(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    detector = _face_detector()
    assert detector is not None
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def test_a_real_face_is_found_and_blurred_beyond_recognition() -> None:
    portrait = np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # type: ignore[no-untyped-call]
    before = faces_in(portrait)
    assert len(before) == 1, before
    out, count = blur_faces(portrait)
    assert count == 1
    assert faces_in(out) == []
    x, y, w, h = before[0]
    face_before, face_after = portrait[y : y + h, x : x + w], out[y : y + h, x : x + w]
    colours = {len(np.unique(f.reshape(-1, 3), axis=0)) for f in (face_before, face_after)}
    assert max(colours) > 3000 and min(colours) <= 64, colours  # a few mosaic blocks remain

    def detail(face: np.ndarray) -> float:
        smooth = cv2.GaussianBlur(face, (0, 0), 3).astype(np.float32)
        return float(np.abs(face.astype(np.float32) - smooth).mean())

    assert detail(face_after) < 0.5 * detail(face_before)
    # the rest of the picture is untouched
    outside = np.ones(portrait.shape[:2], bool)
    pad = int(0.2 * max(w, h))
    outside[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad] = False
    assert np.array_equal(out[outside], portrait[outside])
