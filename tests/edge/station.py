"""A small drawn station for pipeline tests: bins side by side in one frame, a hand that moves
over a bin, items of the tiny model's colours, and a real tiny ONNX model whose labels include
items the profiles sort differently (`alkaline_battery`, `bone`).

The model reuses tests.tiny_model's network with its own label names: `alkaline_battery` is
battery red and `bone` carton beige, so a drawn item of that colour is that label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.pipeline import Decision, Pipeline
from tests.tiny_model import PROTOTYPES, tiny_metadata, write_tiny_model

# label in the test model → the tiny network's prototype it answers to
LOOKS_LIKE = {
    "paper": "paper",
    "food_waste": "food_waste",
    "alkaline_battery": "battery",
    "bone": "carton",
}
BIN_W, HEIGHT, GAP = 118, 120, 4  # a bin's region, and the strip between two regions
BACKGROUND = (165, 165, 165)
HAND = (30, 30, 30)
SLOTS = [(x, y) for y in (10, 64) for x in (6, 44, 82)]  # item places inside a bin's region
ITEM = 30


def write_model(path: Path, version: str, profile: str) -> Path:
    """A real ONNX model of the four labels above; its metadata names `profile` (the profile
    its thresholds were set for), which a device must not use to sort."""
    labels = tuple(LOOKS_LIKE)
    return write_tiny_model(
        path,
        labels=tuple(LOOKS_LIKE.values()),
        metadata=tiny_metadata(labels, model_version=version, profile=profile),
        sharpness=80.0,
    )


def bin_rois(count: int) -> list[list[list[int]]]:
    rois = []
    for n in range(count):
        x0 = n * (BIN_W + GAP)
        rois.append([[x0, 0], [x0 + BIN_W - 1, 0], [x0 + BIN_W - 1, HEIGHT - 1], [x0, HEIGHT - 1]])
    return rois


def edge_config(
    tmp_path: Path,
    profile: str,
    bins: Sequence[tuple[str, str]],
    model: Path,
    *,
    station: str = "ST1",
    service_url: str = "http://127.0.0.1:9",
    token: str = "bwd_unused",
    **extra: Any,
) -> dict[str, Any]:
    """An edge config for a station of `bins` ((id, category or group), left to right)."""
    config: dict[str, Any] = {
        "device_id": "cam-1",
        "station_id": station,
        "profile": profile,
        "pseudonym_key": "station-secret-key-0001",
        "service": {"url": service_url, "token": token},
        "bins": [
            {"id": code, "category": category, "roi": roi}
            for (code, category), roi in zip(bins, bin_rois(len(bins)), strict=True)
        ],
        "source": {"kind": "folder", "uri": str(tmp_path / "unused")},
        "trigger": {"settle_frames": 2},
        "evidence": {"audit_share": 0.0, "blur_faces": False},
        "storage": {"dir": str(tmp_path / "edge")},
        "model": {"path": str(model), "update": False},
        "metrics": {"port": 0},
    }
    for key, value in extra.items():  # a section given merges into the one above
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


class Scene:
    """Frames of the station fed to a pipeline, one at a time."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.ids = [b.id for b in pipeline.config.bins]
        self.frame = np.full((HEIGHT, len(self.ids) * (BIN_W + GAP), 3), BACKGROUND, np.uint8)
        self.used = dict.fromkeys(self.ids, 0)
        self.decisions: list[Decision] = []

    def _x0(self, bin_id: str) -> int:
        return self.ids.index(bin_id) * (BIN_W + GAP)

    def show(self, frame: np.ndarray | None = None) -> list[Decision]:
        made = self.pipeline.process(self.frame if frame is None else frame)
        self.decisions += made
        return made

    def idle(self, frames: int = 2) -> list[Decision]:
        return [d for _ in range(frames) for d in self.show()]

    def hand(self, bin_id: str, frames: int = 4) -> list[Decision]:
        """A hand moving over the bin (each frame elsewhere), leaving nothing behind."""
        x0, made = self._x0(bin_id), []
        for n in range(frames):
            frame = self.frame.copy()
            x, y = x0 + (10, 50, 25, 60)[n % 4], (10, 40, 60, 20)[n % 4]
            frame[y : y + 50, x : x + 50] = HAND
            made += self.show(frame)
        return made

    def place(self, bin_id: str, label: str) -> None:
        """The item lies in the bin from now on."""
        x, y = SLOTS[self.used[bin_id] % len(SLOTS)]
        self.used[bin_id] += 1
        x += self._x0(bin_id)
        r, g, b = PROTOTYPES[LOOKS_LIKE[label]]
        self.frame = self.frame.copy()
        self.frame[y : y + ITEM, x : x + ITEM] = (b, g, r)

    def drop(self, bin_id: str, label: str, settle: int = 4) -> list[Decision]:
        """A hand drops `label` into the bin and leaves; the frames until it settles."""
        made = self.hand(bin_id)
        self.place(bin_id, label)
        return made + self.idle(settle)
