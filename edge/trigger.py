"""When to decide: a state machine per bin, idle → activity → settling → decide.

Fed one motion measurement per frame (the share of the bin's region that moved since the last
frame), or lid signals from a smart bin. It keeps the reference frame: the last still frame
before the activity began, kept across stream reconnects. No I/O, no clock: time is the frame
index, so tests and the simulator drive it frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]


class State(StrEnum):
    IDLE = "idle"
    ACTIVITY = "activity"
    SETTLING = "settling"


@dataclass(frozen=True)
class TriggerParams:
    motion_on: float = 0.02  # share of the region that must move to start an activity
    motion_off: float = 0.004  # below this the scene is still
    settle_frames: int = 6  # still frames after an activity before deciding
    max_activity_frames: int = 600  # decide anyway after this long (someone left a bag on top)
    refresh_frames: int = 30  # still frames after which the idle reference is renewed
    min_moving_frames: int = 3  # fewer moving frames is a flicker or a light switch, not a hand
    combine_frames: int = 1  # settled frames handed to the decision (the last one included)


@dataclass(frozen=True)
class Decide:
    """Compare `before` (the reference) with `after` (the settled frame) now."""

    before: Frame
    after: Frame
    started: int  # frame index where the activity began
    frame: int  # frame index of the decision
    peak_motion: float  # largest motion share seen during the activity
    signalled: bool  # started by a lid signal rather than motion
    settled: tuple[Frame, ...] = ()  # the last still frames, oldest first, `after` last


@dataclass
class Trigger:
    params: TriggerParams = field(default_factory=TriggerParams)
    state: State = State.IDLE
    reference: Frame | None = None
    _still: int = 0
    _started: int = 0
    _peak: float = 0.0
    _moving: int = 0
    _lid_open: bool = False
    _signalled: bool = False
    _settled: list[Frame] = field(default_factory=list)

    @property
    def started(self) -> int | None:
        """The frame its drop-off under way began on (None: idle)."""
        return None if self.state is State.IDLE else self._started

    def lid(self, is_open: bool, frame_index: int) -> None:
        """A smart bin's lid signal: opening starts an activity, closing lets it settle."""
        self._lid_open = is_open
        if is_open and self.state is State.IDLE:
            self._begin(frame_index, signalled=True)
        elif not is_open and self.state is State.ACTIVITY:
            self.state, self._still = State.SETTLING, 0

    def step(
        self, frame: Frame, moved: float, index: int, use_motion: bool = True, present: float = 0.0
    ) -> Decide | None:
        """Advance by one frame; returns a decision when a drop-off has settled. `moved` is the
        share of the region that changed since the last frame, `present` the share that differs
        from the reference (a slow hand moves little from frame to frame but is there)."""
        if self.reference is None:
            self.reference = frame
            return None
        moving = use_motion and moved >= self.params.motion_on
        still = moved < self.params.motion_off
        if self.state is State.IDLE:
            if moving or (use_motion and present >= self.params.motion_on):
                self._begin(index, signalled=False)
                self._peak = moved
                return None
            self._still = self._still + 1 if still else 0
            if self._still >= self.params.refresh_frames:
                self.reference, self._still = frame, 0  # slow light drift, shadows
            return None
        self._peak = max(self._peak, moved)
        if not still:
            self._moving += 1
        if self.state is State.ACTIVITY:
            lid_closed = self._signalled and not self._lid_open
            if (use_motion and not self._signalled and still) or lid_closed:
                self.state, self._still = State.SETTLING, 1 if still else 0
                self._settled = [frame] if still else []
            elif index - self._started >= self.params.max_activity_frames:
                return self._decide(frame, index)
            return None
        # settling
        if (use_motion and moving and not self._signalled) or (self._signalled and self._lid_open):
            self.state = State.ACTIVITY
            return None
        self._still = self._still + 1 if still else 0
        self._settled = [*self._settled, frame][-self.params.combine_frames :] if still else []
        if self._still >= self.params.settle_frames:
            if not self._signalled and self._moving < self.params.min_moving_frames:
                self.reference, self.state, self._still = frame, State.IDLE, 0  # a flicker
                return None
            return self._decide(frame, index)
        return None

    def _begin(self, index: int, signalled: bool) -> None:
        self.state, self._started, self._signalled = State.ACTIVITY, index, signalled
        self._peak, self._still, self._moving = 0.0, 0, 1
        self._settled = []

    def _last_still(self, frame: Frame) -> tuple[Frame, ...]:
        """Up to `combine_frames` still frames ending with the decision's own."""
        earlier = [f for f in self._settled if f is not frame]
        keep = self.params.combine_frames - 1
        return (*(earlier[-keep:] if keep > 0 else []), frame)

    def _decide(self, frame: Frame, index: int) -> Decide:
        assert self.reference is not None
        decision = Decide(
            before=self.reference,
            after=frame,
            started=self._started,
            frame=index,
            peak_motion=self._peak,
            signalled=self._signalled,
            settled=self._last_still(frame),
        )
        self.reference, self.state, self._still = frame, State.IDLE, 0
        self._settled = []
        self._signalled = False
        return decision
