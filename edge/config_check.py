"""What breaks a station beyond a field's own type: checked across fields, on the raw YAML data
(so every problem is found in one run, even when some fields are wrong), each with its path and
the offending value.

- the service URL's syntax (http or https, a host);
- bin ids that repeat (which id, where it first came);
- each bin's ROI polygon: a positive area, no edges crossing, inside the frame (`source.width` /
  `source.height` when given, or the size read from the source with `probe`; else no point past
  any camera's frame);
- the profile and each bin's category under it;
- a `file` or `folder` source that is not there; with `probe`, a source that does not open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vision.regions import shown
from vision.station_file import Problem, bin_problems, bins_region_problems


def url_problems(url: object) -> list[Problem]:
    if not isinstance(url, str):
        return []
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url.strip():
        return [("service.url", f"not an http(s) URL with a host: {shown(url)}")]
    try:
        parts.port  # noqa: B018  (a bad port raises)
    except ValueError:
        return [("service.url", f"its port is not a number from 1 to 65535: {shown(url)}")]
    return []


def source_problems(source: object) -> list[Problem]:
    if not isinstance(source, dict) or not isinstance(source.get("uri"), str):
        return []
    kind, uri = source.get("kind"), source["uri"]
    path = Path(uri)
    if kind == "file" and not path.is_file():
        return [("source.uri", f"no video file {uri!r} (from {Path.cwd()})")]
    if kind == "folder" and not path.is_dir():
        return [("source.uri", f"no folder {uri!r} (from {Path.cwd()})")]
    for side in ("width", "height"):
        if (side in source) != ("width" in source and "height" in source):
            return [("source", "give both width and height of the frame, or neither")]
    return []


def probe(source: dict[str, Any]) -> tuple[tuple[int, int] | None, list[Problem]]:
    """Open the source and read one frame: its size, or why it could not."""
    from edge.config import SourceConfig
    from edge.sources import FrameSource

    try:
        config = SourceConfig.model_validate({**source, "loop": False, "reconnect_max_s": 0.1})
    except Exception:  # the field checks report it
        return None, []
    if config.kind in ("stream", "camera"):
        return _probe_capture(config.uri, config.kind)
    for _, frame in FrameSource(config).frames():
        return (int(frame.shape[1]), int(frame.shape[0])), []
    return None, [("source.uri", f"opens, but no frame could be read from {config.uri!r}")]


def _probe_capture(uri: str, kind: str) -> tuple[tuple[int, int] | None, list[Problem]]:
    import cv2

    capture = cv2.VideoCapture(int(uri) if kind == "camera" else uri)
    try:
        if not capture.isOpened():
            return None, [("source.uri", f"cannot open the {kind} {uri!r}")]
        ok, frame = capture.read()
        if not ok or frame is None:
            return None, [("source.uri", f"the {kind} {uri!r} opens but sends no frame")]
        return (int(frame.shape[1]), int(frame.shape[0])), []
    finally:
        capture.release()


def cross_problems(data: object, sources: bool = True, probe_source: bool = False) -> list[Problem]:
    """Every cross-field problem of the raw config data (a dict from YAML). `sources`: also
    whether a file or folder source is there (check-config does; loading a config does not, the
    agent says so when it starts)."""
    if not isinstance(data, dict):
        return []
    service, source = data.get("service"), data.get("source")
    found = url_problems(service.get("url") if isinstance(service, dict) else None)
    found += bin_problems(data.get("bins"), data.get("profile", "national"))
    if sources:
        found += source_problems(source)
    frame, frame_said = None, "no point may lie past any camera's frame"
    if isinstance(source, dict):
        width, height = source.get("width"), source.get("height")
        if isinstance(width, int) and isinstance(height, int):
            frame, frame_said = (width, height), "source.width × source.height"
        if probe_source and not any(p == "source.uri" for p, _ in found):
            probed, trouble = probe(source)
            found += trouble
            if probed is not None:
                if frame is not None and probed != frame:
                    found.append(
                        ("source", f"the source's frames are {probed[0]}×{probed[1]}, not "
                                   f"{frame[0]}×{frame[1]} as the file says")
                    )  # fmt: skip
                frame, frame_said = probed, "read from the source"
    return found + bins_region_problems(data.get("bins"), frame, frame_said)
