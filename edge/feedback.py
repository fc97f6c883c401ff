"""Instant feedback at the bin: a local command (verdict JSON on stdin) or URL (JSON POST) called
for every drop-off, for a speaker or a screen. Runs beside the pipeline, never blocks it.

The message speaks the station's profile: the bin's and the categories' local names (湿垃圾 in
Shanghai, 会烂的 in a village) come from the same profile that made the verdict."""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading

import httpx

from edge.config import FeedbackConfig
from vision.events import DropoffEvent
from vision.taxonomy import Profile

log = logging.getLogger(__name__)


def message(event: DropoffEvent, profile: Profile) -> dict[str, object]:
    """The verdict for the bin; `profile` is the station's (the event's `profile`)."""

    def named(code: str) -> dict[str, str]:
        return profile.names(code).model_dump()

    return {
        "event_id": str(event.event_id),
        "profile": event.profile,
        "bin": event.bin_id,
        "bin_category": event.bin_category,
        "bin_name": named(event.bin_category),
        "verdict": event.verdict.value,
        "offending": [c.value for c in event.offending],
        "offending_names": [named(c.value) for c in event.offending],
        "items": [
            {"label": i.label, "category": i.category.value, "name": named(i.category.value)}
            for i in event.items
        ],
    }


class Feedback:
    def __init__(self, config: FeedbackConfig, profile: Profile):
        self.config = config
        self.profile = profile
        self._queue: queue.Queue[DropoffEvent | None] = queue.Queue(maxsize=100)
        self._thread = threading.Thread(target=self._work, name="feedback", daemon=True)
        if config.command or config.url:
            self._thread.start()

    def __call__(self, event: DropoffEvent) -> None:
        if not (self.config.command or self.config.url):
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("feedback is falling behind; skipped event %s", event.event_id)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _work(self) -> None:
        while (event := self._queue.get()) is not None:
            body = json.dumps(message(event, self.profile))
            try:
                if self.config.command:
                    subprocess.run(
                        self.config.command,
                        input=body,
                        text=True,
                        check=True,
                        timeout=self.config.timeout_s,
                        capture_output=True,
                    )
                if self.config.url:
                    httpx.post(
                        self.config.url,
                        content=body,
                        timeout=self.config.timeout_s,
                        headers={"Content-Type": "application/json"},
                    )
            except (OSError, subprocess.SubprocessError, httpx.HTTPError) as exc:
                log.warning("feedback for %s failed: %s", event.event_id, exc)
