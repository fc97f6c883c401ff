"""Model updates: ask the service which model this station should run, download it, check its
sha256 and its metadata with the shared reader, and hand it to the pipeline. The previous model
stays on disk; if the current one ever fails to load, the agent starts with the previous one."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from vision.classifier import Classifier, ClassifierOptions
from vision.errors import BinwatchError
from vision.shipped import shipped_model_path

log = logging.getLogger(__name__)


class UpdateError(BinwatchError):
    pass


@dataclass
class ModelStore:
    """`models/` in the agent's storage: files by sha256 and `state.json` (current, previous)."""

    directory: Path

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def _state_file(self) -> Path:
        return self.directory / "state.json"

    def state(self) -> dict[str, str | None]:
        try:
            data = json.loads(self._state_file.read_text())
            return {"current": data.get("current"), "previous": data.get("previous")}
        except (OSError, ValueError):
            return {"current": None, "previous": None}

    def promote(self, path: Path) -> None:
        state = self.state()
        if state["current"] != str(path):
            state = {"current": str(path), "previous": state["current"]}
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self._state_file)

    def candidates(self, configured: Path | None) -> list[Path]:
        """What to try at start, in order: the current download, the previous one, the
        configured or shipped file."""
        state = self.state()
        found = [Path(p) for p in (state["current"], state["previous"]) if p]
        fallback = configured or shipped_model_path()
        if fallback is not None:
            found.append(fallback)
        return found


def load_first(paths: list[Path], options: ClassifierOptions) -> Classifier:
    errors = []
    for path in paths:
        try:
            return Classifier(path, options)
        except BinwatchError as exc:
            log.error("cannot use model %s: %s", path, exc)
            errors.append(str(exc))
    raise UpdateError("no usable model: " + "; ".join(errors) if errors else "no model configured")


class Updater:
    def __init__(self, client: httpx.Client, store: ModelStore, options: ClassifierOptions):
        self.client = client
        self.store = store
        self.options = options
        self.refused: set[str] = set()  # hashes that failed; not fetched again

    def check(self, running_sha: str | None) -> Classifier | None:
        """A new classifier when the service names a different, valid model; else None."""
        response = self.client.get("/api/v1/device/model")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        answer = response.json()
        sha, url = str(answer["sha256"]), str(answer["url"])
        if sha == running_sha or sha in self.refused:
            return None
        target = self.store.directory / f"{sha}.onnx"
        if not target.is_file():
            data = self.client.get(url).content
            got = hashlib.sha256(data).hexdigest()
            if got != sha:
                self.refused.add(sha)
                log.error("model download refused: sha256 %s, the service said %s", got, sha)
                return None
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(target)
        try:
            classifier = Classifier(target, self.options)
        except BinwatchError as exc:
            self.refused.add(sha)
            log.error("model %s refused: %s; the running model stays", answer["version"], exc)
            return None
        self.store.promote(target)
        log.info("model %s (%s) downloaded and checked", answer["version"], sha[:12])
        return classifier

    def run(
        self,
        stop: threading.Event,
        interval: float,
        current: Classifier,
        swap: Callable[[Classifier], None],
    ) -> None:
        running = _sha256(current.path)
        while not stop.wait(interval):
            try:
                new = self.check(running)
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                log.warning("model check failed: %s", exc)
                continue
            if new is not None:
                swap(new)
                running = _sha256(new.path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
