"""An image's size as its header declares it, read before anything is decoded.

A few hundred bytes of JPEG can declare 30000×30000 pixels; decoding that costs seconds and
gigabytes. Both sides check the declared size against a pixel cap first (`check_declared`), so a
decompression bomb costs a header parse. JPEG (its SOF segment) and PNG (IHDR) are read here;
other formats are left to the decoder's own limit.
"""

from __future__ import annotations

from vision.errors import ImageError

MAX_PIXELS = 40_000_000  # a 48 MP phone photo is 8000×6000; a station camera sends ≤ 8.3 MP
MAX_SIDE = 8192

# start-of-frame markers: every SOFn but DHT (C4), JPG (C8) and DAC (CC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment, or None when none comes before
    the scan data (or the bytes end first). Stray bytes between segments are skipped, as
    libjpeg skips them, so they cannot hide a frame header from this check."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i, end = 2, len(data)
    while i + 1 < end:
        if data[i] != 0xFF:  # stray bytes before a marker: the decoder skips them, so do we
            i = data.find(b"\xff", i)
            if i < 0:
                return None
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _NO_LENGTH:
            i += 2
            continue
        if marker in (0xD9, 0xDA) or i + 4 > end:  # EOI or start of scan: no frame header
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF:
            if i + 9 > end:
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def declared_size(data: bytes) -> tuple[int, int] | None:
    return jpeg_size(data) or png_size(data)


def check_declared(
    data: bytes, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE, need_frame: bool = True
) -> None:
    """ImageError when the header declares an image larger than the caps (or of no size);
    `need_frame`: also when a JPEG declares no frame at all (else the decoder says so)."""
    size = declared_size(data)
    if size is None:
        if need_frame and data.startswith(b"\xff\xd8"):  # a JPEG declares its frame first
            raise ImageError("the JPEG does not decode: no frame header before its image data")
        return
    width, height = size
    if width == 0 or height == 0:
        raise ImageError(f"the header declares a {width}×{height} image")
    if max(width, height) > max_side or width * height > max_pixels:
        raise ImageError(
            f"the header declares {width}×{height} pixels; the most allowed is "
            f"{max_pixels:,} pixels and {max_side} on a side"
        )
