"""Card swipes and the one drop-off each belongs to.

A swipe waits (pending) for a drop-off to start: it binds to the bin whose lid opens (a smart
bin's signal) or, without a lid signal, to the bin where the next change starts. Once bound it
goes to that bin's next drop-off only. A pending swipe that no drop-off claims within `ttl_s`
seconds is unbound: counted and dropped. A new swipe replaces a pending one, which is counted
unbound too. A bin whose activity ends without a drop-off (a flicker, a light change) hands its
swipe back to pending with its original swipe time, so it still expires on time.

No locks and no threads here: the pipeline calls it under its own lock. The clock is
injectable (seconds, monotonic), so tests step time instead of sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
DEFAULT_TTL_S = 60.0


@dataclass(frozen=True)
class Swipe:
    household: str  # the card's pseudonym, never the raw card number
    at: float  # clock seconds when it was swiped


@dataclass
class CardCounts:
    swipes: int = 0
    bound: int = 0  # went to a drop-off event
    unbound: int = 0  # expired or replaced before any drop-off claimed it; dropped


class Cards:
    def __init__(
        self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.ttl_s = ttl_s
        self.clock = clock
        self.counts = CardCounts()
        self._pending: Swipe | None = None
        self._bound: dict[str, Swipe] = {}  # bin id → the swipe of its drop-off in progress

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def bound_to(self, bin_id: str) -> bool:
        return bin_id in self._bound

    def swipe(self, household: str) -> None:
        """A card was swiped; a pending swipe before it is replaced (and counted unbound)."""
        self.expire()
        if self._pending is not None:
            self._drop("replaced by a new swipe")
        self._pending = Swipe(household, self.clock())
        self.counts.swipes += 1

    def started(self, bin_id: str) -> None:
        """A drop-off started at `bin_id` (its lid opened, or a change began there): the pending
        swipe binds to it, unless the bin already carries one for the drop-off in progress."""
        self.expire()
        if self._pending is not None and bin_id not in self._bound:
            self._bound[bin_id], self._pending = self._pending, None
            log.debug("card swipe bound to bin %s", bin_id)

    def take(self, bin_id: str) -> str | None:
        """The household of the drop-off just decided at `bin_id`: its bound swipe, or None."""
        swipe = self._bound.pop(bin_id, None)
        if swipe is None:
            return None
        self.counts.bound += 1
        return swipe.household

    def release(self, bin_id: str) -> None:
        """The activity at `bin_id` ended without a drop-off: its swipe is pending again, unless
        a newer swipe waits already (then it is counted unbound)."""
        swipe = self._bound.pop(bin_id, None)
        if swipe is None:
            return
        if self._pending is not None:
            self.counts.unbound += 1
            log.info("card swipe at bin %s unbound: no drop-off, and a newer swipe waits", bin_id)
            return
        self._pending = swipe
        self.expire()

    def expire(self) -> None:
        """Drop the pending swipe when `ttl_s` passed since it was swiped."""
        if self._pending is not None and self.clock() - self._pending.at >= self.ttl_s:
            self._drop(f"no drop-off within {self.ttl_s:g} s")

    def _drop(self, why: str) -> None:
        self._pending = None
        self.counts.unbound += 1
        log.info("card swipe unbound (%s): dropped", why)
