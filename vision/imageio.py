"""Read image files with errors that say what is wrong with them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.errors import ImageError
from vision.imagesize import check_declared
from vision.preprocess import Image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def read_image(path: str | Path) -> Image:
    """Decode an image file into a BGR uint8 array (EXIF orientation applied)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except IsADirectoryError:
        raise ImageError("is a directory") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise ImageError("empty file")
    check_declared(data.tobytes(), need_frame=False)  # a bomb fails here, not in memory
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise ImageError("not a readable image (cannot decode it)")
    return np.asarray(image, dtype=np.uint8)
