"""Frame sources through OpenCV: a video file, a folder of images, a network stream, a camera.

Each yields `(index, frame)` with an index that keeps counting across reconnects. A stream or
camera that drops is reopened with exponential backoff; a corrupt frame is logged and skipped;
a file or folder that ends stops the source (or starts again with `loop`). A recording restarted
from `start` skips the frames already read, so an agent restarted mid-file replays nothing.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.config import SourceConfig
from vision.imageio import IMAGE_SUFFIXES

log = logging.getLogger(__name__)
Frame = npt.NDArray[np.uint8]


def _valid(frame: object) -> bool:
    return (
        isinstance(frame, np.ndarray)
        and frame.ndim == 3
        and frame.shape[2] == 3
        and frame.shape[0] >= 16
        and frame.shape[1] >= 16
        and frame.dtype == np.uint8
    )


def recording_key(config: SourceConfig) -> str | None:
    """The name a recording's read position is kept under (None: a live source, or a loop)."""
    if config.kind not in ("file", "folder") or config.loop:
        return None
    return f"{config.kind}:{Path(config.uri).resolve()}"


class FrameSource:
    def __init__(self, config: SourceConfig, stop: threading.Event | None = None, start: int = 0):
        """`start`: frames of a recording already read (their outcome committed): skipped."""
        self.config = config
        self.stop = stop or threading.Event()
        self.start = start
        self.index = 0
        self.reconnects = 0
        self.skipped = 0
        self.shape: tuple[int, ...] | None = None
        self._rng = random.Random()

    def frames(self) -> Iterator[tuple[int, Frame]]:
        kind = self.config.kind
        if kind == "folder":
            yield from self._folder()
        elif kind == "file":
            yield from self._capture(self.config.uri, reconnect=False)
        else:
            uri: str | int = int(self.config.uri) if kind == "camera" else self.config.uri
            yield from self._capture(uri, reconnect=True)

    def _accept(self, frame: object) -> bool:
        if not _valid(frame):
            self.skipped += 1
            log.warning("skipped a corrupt or empty frame (%d so far)", self.skipped)
            return False
        assert isinstance(frame, np.ndarray)
        if self.shape is not None and frame.shape != self.shape:
            self.skipped += 1
            log.warning(
                "skipped a frame of size %s (the stream's frames are %s)", frame.shape, self.shape
            )
            return False
        self.shape = frame.shape
        return True

    def _folder(self) -> Iterator[tuple[int, Frame]]:
        folder = Path(self.config.uri)
        while not self.stop.is_set():
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not paths:
                log.warning("no images in %s", folder)
                return
            for path in paths:
                if self.stop.is_set():
                    return
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is None:
                    log.warning("cannot read %s as an image", path)
                if self._accept(frame):
                    self.index += 1
                    if self.index > self.start:
                        yield self.index, np.asarray(frame, np.uint8)
            if not self.config.loop:
                return

    def _capture(self, uri: str | int, reconnect: bool) -> Iterator[tuple[int, Frame]]:
        attempt = 0
        while not self.stop.is_set():
            capture = cv2.VideoCapture(uri)
            if not capture.isOpened():
                capture.release()
                if not reconnect:
                    log.error("cannot open video %s", uri)
                    return
                attempt += 1
                self._wait(attempt, f"cannot open {uri}")
                continue
            log.info("opened %s", uri)
            got_any = False
            while not self.stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    break
                got_any = True
                if self._accept(frame):
                    self.index += 1
                    if self.index > self.start:
                        yield self.index, np.asarray(frame, np.uint8)
            capture.release()
            if not reconnect:
                if self.config.loop and got_any:
                    continue
                log.info("video %s ended after frame %d", uri, self.index)
                return
            attempt = 0 if got_any else attempt + 1
            self.reconnects += 1
            self._wait(max(1, attempt), f"stream {uri} dropped")

    def _wait(self, attempt: int, why: str) -> None:
        delay = min(self.config.reconnect_max_s, 0.5 * 2 ** min(attempt, 20))
        delay *= 0.5 + 0.5 * self._rng.random()
        log.warning("%s; reconnecting in %.1f s", why, delay)
        self.stop.wait(delay)


def paced(frames: Iterator[tuple[int, Frame]], fps: float | None) -> Iterator[tuple[int, Frame]]:
    """Yield no faster than `fps` (a live camera's pace for files; None: as fast as possible)."""
    if not fps:
        yield from frames
        return
    period, due = 1.0 / fps, time.monotonic()
    for item in frames:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        due = max(due + period, time.monotonic() - period)
        yield item
