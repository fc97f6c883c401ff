"""Worker threads that come back: a thread that dies (an exception its loop did not catch) is
logged, counted and started again, so capture never goes on while uploads have silently
stopped. And the stop signals: SIGTERM and SIGINT end the agent cleanly."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread (tests)
            signal.signal(sig, lambda *_: stop.set())


class Supervised:
    """A daemon thread running `target(*args)`; `check()` starts it again if it died."""

    def __init__(self, name: str, target: Callable[..., Any], *args: Any) -> None:
        self.name, self.target, self.args = name, target, args
        self.restarts = 0
        self.thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            self.target(*self.args)
        except Exception:  # logged here; `check` starts it again
            log.exception("thread %s died", self.name)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()

    def check(self, stopping: bool) -> bool:
        """Start the thread again when it died while the agent runs; True when it did."""
        if stopping or self.thread is None or self.thread.is_alive():
            return False
        self.restarts += 1
        log.error("thread %s had stopped; starting it again (restart %d)", self.name, self.restarts)
        self.start()
        return True

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout=timeout)
