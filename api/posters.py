"""Printable posters for the bins: the station's name, a QR code linking to the residents' page
for that station (`BINWATCH_PUBLIC_URL/report?place=CODE`), and a few words in Chinese and
English. A4 portrait at 150 dpi, written as PNG and as PDF. The text needs a font with Chinese
characters (Debian: fonts-wqy-microhei or fonts-noto-cjk); `--font` names another."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from PIL import Image

A4 = (1240, 1754)  # pixels at 150 dpi
DPI = 150
FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


class PosterError(ValueError):
    pass


@dataclass(frozen=True)
class Station:
    code: str
    name: str


def report_link(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/report?place={quote(code, safe='')}"


def find_font(explicit: Path | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise PosterError(f"no font file {explicit}")
        return explicit
    for candidate in FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise PosterError(
        "no font with Chinese characters found: install fonts-wqy-microhei (or fonts-noto-cjk), "
        "or pass --font FILE"
    )


def _qr(link: str, side: int) -> Image.Image:
    """The link as a QR code (error correction M, a quiet zone of 4 modules), `side` pixels."""
    import numpy as np
    import segno
    from PIL import Image

    code = segno.make(link, error="m", micro=False)
    modules = np.array([list(row) for row in code.matrix], dtype=bool)
    modules = np.pad(modules, 4, constant_values=False)
    scale = max(1, side // modules.shape[0])
    pixels = np.where(np.kron(modules, np.ones((scale, scale), bool)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L").convert("RGB")


def poster(station: Station, link: str, font: Path) -> Image.Image:
    from PIL import Image, ImageDraw, ImageFont

    width, height = A4
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)

    def text(y: int, words: str, size: int, fill: str = "#1d2329") -> int:
        face = ImageFont.truetype(str(font), size)
        left, top, right, bottom = draw.textbbox((0, 0), words, font=face)
        while right - left > width - 120 and size > 18:  # a long name: smaller, not cut
            size -= 4
            face = ImageFont.truetype(str(font), size)
            left, top, right, bottom = draw.textbbox((0, 0), words, font=face)
        draw.text(((width - (right - left)) / 2 - left, y - top), words, font=face, fill=fill)
        return int(y + (bottom - top) + size // 2)

    draw.rectangle((0, 0, width, 210), fill="#2e7d32")
    text(40, "垃圾分类纠错", 84, "white")
    text(150, "Report a sorting problem", 40, "white")
    y = text(270, station.name, 64)
    y = text(y + 4, station.code, 36, "#5f6b76")
    qr = _qr(link, 760)
    page.paste(qr, ((width - qr.width) // 2, y + 20))
    y += qr.height + 50
    y = text(y, "扫码 · 拍照 · 提交，无需登录", 48)
    y = text(y + 6, "Scan · take a photo · send — no sign-in", 34)
    y = text(y + 24, "照片中的人脸会被自动打码 · Faces in photos are blurred", 28, "#5f6b76")
    text(height - 80, link, 24, "#5f6b76")
    return page


def write_posters(
    stations: list[Station], public_url: str, out: Path, font: Path, formats: tuple[str, ...]
) -> list[Path]:
    """A poster per station in each format (png, pdf); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for station in stations:
        page = poster(station, report_link(public_url, station.code), font)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in station.code)
        for fmt in formats:
            path = out / f"poster-{safe}.{fmt}"
            if fmt == "pdf":
                page.save(path, "PDF", resolution=DPI)
            else:
                page.save(path, "PNG", dpi=(DPI, DPI))
            written.append(path)
    return written
