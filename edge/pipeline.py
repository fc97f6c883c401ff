"""Frames in, drop-off events out: per bin, motion → trigger → changed regions → crops →
classifier (one batch) → verdict for the bin → event (+ evidence) → outbox → feedback hook.

One profile, the station's (`config.profile`): the classifier maps labels with it (a model
handed over with another is loaded again with it), the bins accept what it says, and the
events name it. A card swipe goes to one drop-off (see edge.cards)."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from edge.audit import AuditShare
from edge.cards import Cards
from edge.config import BinConfig, EdgeConfig
from edge.outbox import Outbox
from edge.privacy import blur_faces, encode_jpeg
from edge.trigger import Decide, State, Trigger, TriggerParams
from edge.updater import with_profile
from vision.change import (
    ChangeParams,
    changed_regions,
    changed_share,
    crop,
    grey,
    motion,
    roi_mask,
)
from vision.classifier import Classifier
from vision.events import DropoffEvent, EventItem, Evidence, EvidenceReason
from vision.prediction import Box, Prediction
from vision.taxonomy import Category, load_profile
from vision.verdict import VerdictKind, judge

log = logging.getLogger(__name__)
Frame = npt.NDArray[np.uint8]
LIGHTING_SHARE = 0.7  # an activity that moved this much of the region at once is light, not a hand
SCENE_SHARE = 0.4  # a change over this much of the region: the bin was emptied or swapped


@dataclass
class BinWatch:
    """One bin: its region, its trigger, and the previous frame's grey view of the region."""

    config: BinConfig
    accepted: frozenset[Category]
    trigger: Trigger
    mask: npt.NDArray[np.uint8] | None = None
    view: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, w, h: the region's bounding box
    previous: Frame | None = None
    reference: Frame | None = None  # the trigger's reference frame, as blurred grey
    reference_of: int = 0  # id() of the trigger reference it was made from


@dataclass(frozen=True)
class Decision:
    event: DropoffEvent
    crops: int  # crops classified (background crops included)
    verdict_seconds: float  # settled → verdict
    seconds: float  # settled → event stored in the outbox (evidence included)


class Pipeline:
    def __init__(
        self,
        config: EdgeConfig,
        classifier: Classifier,
        outbox: Outbox,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_event: Callable[[DropoffEvent], None] | None = None,
        cards: Cards | None = None,
        audit: AuditShare | None = None,
    ):
        """`cards`: where swipes wait for their drop-off (default: `trigger.card_timeout_s`
        on the monotonic clock); `audit`: the share to keep audit evidence at (default: the
        config's `evidence.audit_share`)."""
        self.config = config
        self.outbox = outbox
        self.clock = clock
        self.on_event = on_event
        self.profile = load_profile(config.profile)
        self.classifier = with_profile(classifier, self.profile)
        t = config.trigger
        params = TriggerParams(
            motion_on=t.motion_on,
            motion_off=t.motion_off,
            settle_frames=t.settle_frames,
            max_activity_frames=t.max_activity_frames,
            combine_frames=t.combine_frames,
        )
        self.bins = [
            BinWatch(b, self.profile.accepted(b.category), Trigger(params)) for b in config.bins
        ]
        self.change = ChangeParams(min_area=t.min_item_area)
        self._rng = random.Random()
        self.audit = audit if audit is not None else AuditShare(config.evidence.audit_share)
        self.cards = cards if cards is not None else Cards(t.card_timeout_s)
        self._lock = threading.Lock()
        self._pending_model: Classifier | None = None
        self.frames = 0
        self.background_crops = 0  # crops the model read as no item, dropped from events
        self.position: tuple[str, int] | None = None  # (recording, frame) being processed

    # signals from a smart bin and the model updater -----------------------------------------

    def card(self, household_pseudonym: str) -> None:
        with self._lock:
            self.cards.swipe(household_pseudonym)

    def lid(self, bin_id: str, is_open: bool) -> None:
        with self._lock:
            for watch in self.bins:
                if watch.config.id == bin_id:
                    watch.trigger.lid(is_open, self.frames)
                    if is_open:
                        self.cards.started(bin_id)

    def swap_model(self, classifier: Classifier) -> None:
        """Use a new model from the next quiet moment (never in the middle of a drop-off),
        its labels mapped with the station's profile."""
        classifier = with_profile(classifier, self.profile)
        with self._lock:
            self._pending_model = classifier

    @property
    def idle(self) -> bool:
        """No drop-off under way at any bin."""
        return all(w.trigger.state == "idle" for w in self.bins)

    def resume_point(self) -> tuple[str, int] | None:
        """(recording, frame) a restart may resume after without losing a drop-off under way
        at another bin: the frame before the earliest one still open (None: a live source)."""
        if self.position is None:
            return None
        source, index = self.position
        open_since = [w.trigger.started for w in self.bins if w.trigger.started is not None]
        if open_since:
            index -= self.frames - min(open_since) + 1
        return source, max(0, index)

    # frames ------------------------------------------------------------------------------

    def _setup(self, frame: Frame) -> None:
        height, width = frame.shape[:2]
        for watch in self.bins:
            watch.mask = roi_mask((height, width), watch.config.roi)
            ys, xs = np.nonzero(watch.mask)
            watch.view = (
                int(xs.min()),
                int(ys.min()),
                int(xs.max() - xs.min() + 1),
                int(ys.max() - ys.min() + 1),
            )

    def process(self, frame: Frame) -> list[Decision]:
        """One frame; returns the drop-offs decided on it."""
        if self.bins[0].mask is None or self.bins[0].mask.shape != frame.shape[:2]:
            self._setup(frame)
        self.frames += 1
        decisions = []
        signal_mode = self.config.trigger.mode == "signal"
        with self._lock:
            self.cards.expire()
            if self._pending_model is not None and all(
                w.trigger.state == "idle" for w in self.bins
            ):
                self.classifier, self._pending_model = self._pending_model, None
                log.info("now running model %s", self.classifier.metadata.model_version)
            for watch in self.bins:
                x, y, w, h = watch.view
                view = grey(frame[y : y + h, x : x + w], self.change.blur)
                assert watch.mask is not None
                mask = watch.mask[y : y + h, x : x + w]
                moved = 0.0 if watch.previous is None else motion(watch.previous, view, mask)
                watch.previous = view
                reference = watch.trigger.reference
                if reference is not None and id(reference) != watch.reference_of:
                    watch.reference = grey(reference, self.change.blur)
                    watch.reference_of = id(reference)
                present = 0.0
                if watch.reference is not None and watch.trigger.state == "idle":
                    present = motion(watch.reference, view, mask)
                was = watch.trigger.state
                decide = watch.trigger.step(
                    frame[y : y + h, x : x + w],
                    moved,
                    self.frames,
                    use_motion=not signal_mode,
                    present=present,
                )
                made = None if decide is None else self._decide(watch, decide, mask)
                if made is not None:
                    decisions.append(made)
                elif was is State.IDLE and watch.trigger.state is not State.IDLE:
                    self.cards.started(watch.config.id)  # a change began here
                elif watch.trigger.state is State.IDLE and self.cards.bound_to(watch.config.id):
                    self.cards.release(watch.config.id)  # it ended without a drop-off
        return decisions

    def _decide(
        self, watch: BinWatch, decide: Decide, mask: npt.NDArray[np.uint8]
    ) -> Decision | None:
        started = time.perf_counter()
        boxes = changed_regions(decide.before, decide.after, mask, self.change)
        if not boxes and not decide.signalled and decide.peak_motion >= LIGHTING_SHARE:
            log.info("bin %s: light change, no drop-off", watch.config.id)
            return None
        if boxes and changed_share(decide.before, decide.after, mask, self.change) > SCENE_SHARE:
            log.info(
                "bin %s: most of the bin changed (emptied or swapped): new reference",
                watch.config.id,
            )
            return None
        crops = len(boxes)  # classified, background crops included
        predictions = self.classifier.classify_views(self._views(decide, boxes)) if boxes else []
        # a crop the model reads as no item (a hand, a shadow, the floor) is not an item
        kept = [(p, box) for p, box in zip(predictions, boxes, strict=True) if not p.is_background]
        if len(kept) < len(predictions):
            self.background_crops += len(predictions) - len(kept)
            log.info(
                "bin %s: %d of %d crops hold no item; dropped",
                watch.config.id,
                len(predictions) - len(kept),
                len(predictions),
            )
        predictions, boxes = [p for p, _ in kept], [b for _, b in kept]
        verdict = judge(predictions, watch.accepted, self.classifier.metadata.thresholds)
        verdict_seconds = time.perf_counter() - started
        household = self.cards.take(watch.config.id)
        audit_share = self.audit.share
        evidence_reason = self._evidence_reason(verdict.kind, audit_share)
        jpeg = None
        if evidence_reason is not None:
            jpeg = self._evidence_image(decide.after)
        event = DropoffEvent(
            event_id=uuid.uuid4(),
            device_id=self.config.device_id,
            station_id=self.config.station_id,
            bin_id=watch.config.id,
            bin_category=watch.config.category,
            profile=self.profile.name,
            household=household,
            captured_at=self.clock(),
            model_version=self.classifier.metadata.model_version,
            items=tuple(_item(p, box) for p, box in zip(predictions, boxes, strict=True)),
            verdict=verdict.kind,
            offending=verdict.offending,
            score=verdict.score,
            evidence=None
            if jpeg is None or evidence_reason is None
            else Evidence(
                sha256=_sha256(jpeg),
                bytes=len(jpeg),
                width=decide.after.shape[1],
                height=decide.after.shape[0],
                reason=evidence_reason,
            ),
            audit_share=audit_share if evidence_reason is EvidenceReason.AUDIT else None,
        )
        self.outbox.add(event, jpeg, self.resume_point())
        seconds = time.perf_counter() - started
        log.info(
            "bin %s: %s (%d items, %.0f ms) event %s",
            watch.config.id,
            verdict.kind.value,
            len(boxes),
            1000 * seconds,
            event.event_id,
        )
        if self.on_event is not None:
            self.on_event(event)
        return Decision(event=event, crops=crops, verdict_seconds=verdict_seconds, seconds=seconds)

    def _views(self, decide: Decide, boxes: list[Box]) -> list[list[Frame]]:
        """Each item's images: its crop from every settled frame handed over, each also mirrored
        when `model.flip` is on (the decision's own frame first)."""
        frames = (decide.after, *(f for f in decide.settled if f is not decide.after))
        views = []
        for box in boxes:
            crops = [crop(f, box) for f in frames]
            if self.config.model.flip:
                crops += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
            views.append(crops)
        return views

    def _evidence_reason(self, kind: VerdictKind, audit_share: float) -> EvidenceReason | None:
        policy = self.config.evidence
        if kind is VerdictKind.CONTAMINATED and policy.flagged:
            return EvidenceReason.FLAGGED
        if kind is VerdictKind.UNCERTAIN and policy.uncertain:
            return EvidenceReason.UNCERTAIN
        if kind is VerdictKind.CORRECT and self._rng.random() < audit_share:
            return EvidenceReason.AUDIT
        return None

    def _evidence_image(self, view: Frame) -> bytes:
        image = view
        if self.config.evidence.blur_faces:
            image, faces = blur_faces(image)
            if faces:
                log.info("blurred %d face(s) in an evidence image", faces)
        return encode_jpeg(image, self.config.evidence.jpeg_quality)


def _item(prediction: Prediction, box: Box) -> EventItem:
    return EventItem(
        label=prediction.label,
        category=prediction.category,
        confidence=prediction.confidence,
        box=box,
    )


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
