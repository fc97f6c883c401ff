"""Head features of plain (unaugmented) photos, kept on disk per model file, so a second retrain
from the same model costs seconds instead of minutes of ONNX Runtime over the base splits.

One file per model and tensor (`<folder>/<model sha256>.npz` for the head's features,
`<model sha256>-<tag>.npz` for another tensor, such as the activations where retraining's
trainable blocks begin): the keys (the sha1 of a photo's bytes, so a moved photo is found and a
changed one computed again) and their rows (float32, or float16 for activations). A corrupt
cache file is ignored and written afresh; writes are atomic (temporary file, then rename), and a
cache that cannot be written (a full disk) only costs the next run its speed. Augmented views are
never cached: they are drawn anew each run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from train.manifest import Sample

log = logging.getLogger(__name__)


def default_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "binwatch" / "features"


def sample_key(sample: Sample) -> str:
    return hashlib.sha1(sample.path.read_bytes()).hexdigest()


class FeatureCache:
    def __init__(
        self, folder: Path, model_sha256: str, tag: str = "", dtype: type = np.float32
    ) -> None:
        self.path = folder / (f"{model_sha256}-{tag}.npz" if tag else f"{model_sha256}.npz")
        self.dtype = dtype
        self._rows: dict[str, np.ndarray] = {}
        self.hits = self.misses = 0
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, rows = data["keys"], data["rows"]
            if len(keys) != len(rows):
                raise ValueError("keys and rows differ in length")
            if rows.dtype != self.dtype:
                raise ValueError(f"rows are {rows.dtype}, not {np.dtype(self.dtype)}")
            self._rows = {str(k): r for k, r in zip(keys, rows, strict=True)}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("ignoring the feature cache %s: %s", self.path, exc)
            self._rows = {}

    def features(
        self, samples: Sequence[Sample], compute: Callable[[Sequence[Sample]], np.ndarray]
    ) -> np.ndarray:
        """The rows of `samples`, computing (and storing) only those not cached."""
        keys = [sample_key(s) for s in samples]
        missing = [i for i, k in enumerate(keys) if k not in self._rows]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            made = compute([samples[i] for i in missing])
            for i, row in zip(missing, made, strict=True):
                self._rows[keys[i]] = np.asarray(row, self.dtype)
            self._save()
        if not keys:
            return np.zeros((0, 0), self.dtype)
        return np.stack([self._rows[k] for k in keys])

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        keys = np.array(list(self._rows), dtype=str)
        rows: np.ndarray = np.stack(list(self._rows.values())).astype(self.dtype)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as handle:
                np.savez(handle, keys=keys, rows=rows)
            tmp.replace(self.path)
        except OSError as exc:
            log.warning(
                "cannot write the feature cache %s: %s (continuing without)", self.path, exc
            )
            with contextlib.suppress(OSError):
                tmp.unlink()
