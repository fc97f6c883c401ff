"""Model updates: ask the service which model this station should run, download it, check its
sha256 and its metadata with the shared reader, and hand it to the pipeline. The previous model
stays on disk; if the current one ever fails to load, the agent starts with the previous one.

Every model the device loads maps its fine labels with the station's profile (the config's
`profile`), never with the profile named in the model's metadata: the verdicts, the events and
the feedback then use one profile, the one the service checks the station's events against."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from edge.audit import AuditShare
from edge.outbox import fsync_directory
from vision.classifier import Classifier, ClassifierOptions
from vision.errors import BinwatchError
from vision.shipped import shipped_model_path
from vision.taxonomy import Profile

log = logging.getLogger(__name__)


MAX_MISMATCHES = 3


class UpdateError(BinwatchError):
    pass


def write_durably(target: Path, data: bytes) -> None:
    """Write, fsync, rename into place and fsync the directory: a power cut leaves the old
    file or the new one, never a torn one."""
    tmp = target.with_suffix(".part")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(target)
    fsync_directory(target.parent)


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


def load_first(
    paths: list[Path], options: ClassifierOptions, profile: Profile | None = None
) -> Classifier:
    """The first of `paths` that loads, its labels mapped with `profile` (None: the model's)."""
    errors = []
    for path in paths:
        try:
            return Classifier(path, options, profile)
        except BinwatchError as exc:
            log.error("cannot use model %s: %s", path, exc)
            errors.append(str(exc))
    raise UpdateError("no usable model: " + "; ".join(errors) if errors else "no model configured")


def with_profile(classifier: Classifier, profile: Profile) -> Classifier:
    """`classifier` mapping its labels with `profile`: itself when it does already, else the
    same file loaded again with `profile`."""
    if classifier.profile == profile:
        return classifier
    log.info(
        "model %s maps labels with profile %s; loading it again with the station's, %s",
        classifier.metadata.model_version,
        classifier.profile.name,
        profile.name,
    )
    return Classifier(classifier.path, classifier.options, profile)


class Updater:
    def __init__(
        self,
        client: httpx.Client,
        store: ModelStore,
        options: ClassifierOptions,
        profile: Profile | None = None,
        audit: AuditShare | None = None,
        models: bool = True,
        snapshot: Callable[[], bytes | None] | None = None,
    ):
        """`profile`: the station's, for every model it loads (None: each model's own);
        `audit`: told the service's audit share on every poll; `models`: fetch models (the
        config's `model.update`), else only the share; `snapshot`: the camera's latest frame
        as a JPEG (faces blurred), sent when the poll says the station set-up wants one."""
        self.client = client
        self.store = store
        self.options = options
        self.profile = profile
        self.audit = audit
        self.models = models
        self.snapshot = snapshot
        self.refused: set[str] = set()  # hashes that failed; not fetched again
        self.mismatches: dict[str, int] = {}  # downloads whose bytes did not match, per hash

    def poll(self) -> dict[str, Any] | None:
        """Ask the service for this device's config (`/device/config`): take its audit share
        and return the model it names (None: no model yet). A service from before that route
        answers 404; then only `/device/model` is asked."""
        response = self.client.get("/api/v1/device/config")
        if response.status_code == 404:
            response = self.client.get("/api/v1/device/model")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return dict(response.json())
        response.raise_for_status()
        config = response.json()
        told = config.get("profile")
        if self.profile is not None and told and told != self.profile.name:
            log.error(
                "the service runs station %s with profile %r, this device's config says %r: "
                "its events will be refused until the config names the station's profile",
                config.get("station"),
                told,
                self.profile.name,
            )
        if self.audit is not None and config.get("audit_share") is not None:
            self.audit.set(float(config["audit_share"]))
        if config.get("snapshot_wanted") and self.snapshot is not None:
            self.send_snapshot()
        model = config.get("model")
        return dict(model) if model else None

    def send_snapshot(self) -> None:
        """A frame for the station set-up page (asked through the config poll): best effort,
        asked again at the next poll when it could not be sent."""
        jpeg = self.snapshot() if self.snapshot is not None else None
        if jpeg is None:
            log.info("a snapshot is wanted but no frame has been read yet")
            return
        try:
            response = self.client.put(
                "/api/v1/device/snapshot", content=jpeg, headers={"Content-Type": "image/jpeg"}
            )
        except httpx.HTTPError as exc:
            log.warning("snapshot not sent: %s", exc)
            return
        if response.status_code == 200:
            log.info("snapshot sent for the station set-up (%d bytes)", len(jpeg))
        else:
            log.warning("snapshot refused: %s %s", response.status_code, response.text[:200])

    def check(self, running_sha: str | None) -> Classifier | None:
        """A new classifier when the service names a different, valid model; else None."""
        answer = self.poll()
        if answer is None or not self.models:
            return None
        sha, url = str(answer["sha256"]), str(answer["url"])
        if sha == running_sha or sha in self.refused:
            return None
        target = self.store.directory / f"{sha}.onnx"
        if not target.is_file():
            response = self.client.get(url)
            if response.status_code != 200:  # a transient 5xx must not refuse the model for good
                log.warning("model download answered %s; trying again later", response.status_code)
                return None
            data = response.content
            got = hashlib.sha256(data).hexdigest()
            if got != sha:  # a cut transfer, or a corrupt file on the service: three tries
                self.mismatches[sha] = self.mismatches.get(sha, 0) + 1
                if self.mismatches[sha] >= MAX_MISMATCHES:
                    self.refused.add(sha)
                log.error("model download refused: sha256 %s, the service said %s", got, sha)
                return None
            write_durably(target, data)
        try:
            classifier = Classifier(target, self.options, self.profile)
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
        first = True
        while first or not stop.wait(interval):
            first = False
            try:
                new = self.check(running)
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                log.warning("model check failed: %s", exc)
                continue
            except Exception:  # the updater must outlive a bug in one check
                log.exception("model check failed unexpectedly")
                continue
            if new is not None:
                swap(new)
                running = _sha256(new.path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
