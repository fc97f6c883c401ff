"""The event contract between devices and the service: one drop-off, and a batch upload.

Versioned by `schema_version`; a device and the service agree on `EVENT_SCHEMA_VERSION`.
The same `event_id` (made on the device) sent twice is one event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from vision.prediction import Box
from vision.taxonomy import CODE_PATTERN, Category
from vision.verdict import VerdictKind

EVENT_SCHEMA_VERSION: Final = 1
MAX_ITEMS_PER_EVENT = 64
MAX_EVENTS_PER_BATCH = 500
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024

Identifier = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", description="a device-side id")
]
Pseudonym = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{16,64}$",
        description="keyed hash of a household's card or QR id (hex); never the raw id",
    ),
]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceReason(StrEnum):
    FLAGGED = "flagged"
    UNCERTAIN = "uncertain"
    AUDIT = "audit"


class Evidence(_Contract):
    """The evidence image of an event; the bytes are uploaded separately, keyed by event id."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(gt=0, le=MAX_EVIDENCE_BYTES)
    content_type: Literal["image/jpeg"] = "image/jpeg"
    width: int = Field(gt=0, le=8192)
    height: int = Field(gt=0, le=8192)
    reason: EvidenceReason


class EventItem(_Contract):
    """One item seen in a drop-off."""

    label: str = Field(pattern=CODE_PATTERN, description="fine label")
    category: Category = Field(description="the label's category under the event's profile")
    confidence: float = Field(ge=0.0, le=1.0, description="probability of the label")
    box: Box | None = Field(None, description="where in the frame, when known")


class DropoffEvent(_Contract):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    event_id: UUID = Field(description="made on the device; the idempotency key")
    device_id: Identifier
    station_id: Identifier
    bin_id: Identifier
    bin_category: str = Field(
        pattern=CODE_PATTERN, description="the bin: a category, or a group of the profile"
    )
    profile: str = Field(pattern=CODE_PATTERN, description="taxonomy profile of the station")
    household: Pseudonym | None = None
    captured_at: AwareDatetime
    model_version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
    items: tuple[EventItem, ...] = Field(max_length=MAX_ITEMS_PER_EVENT)
    verdict: VerdictKind
    offending: tuple[Category, ...] = ()
    score: float | None = Field(None, ge=0.0, le=1.0)
    weight_kg: float | None = Field(None, ge=0.0, le=500.0)
    evidence: Evidence | None = None
    audit_share: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="the audit share in force on the device when it kept this drop-off for "
        "audit (evidence reason 'audit'); weighs the audit when the service estimates the "
        "model's misses",
    )

    @model_validator(mode="after")
    def _consistent(self) -> DropoffEvent:
        empty = self.verdict is VerdictKind.EMPTY
        if empty != (len(self.items) == 0):
            raise ValueError("verdict 'empty' goes with no items, and only with no items")
        if (self.verdict is VerdictKind.CONTAMINATED) != bool(self.offending):
            raise ValueError("offending categories go with verdict 'contaminated', and only then")
        if len(set(self.offending)) != len(self.offending):
            raise ValueError("offending lists a category twice")
        if empty != (self.score is None):
            raise ValueError("score is set for every verdict but 'empty'")
        audit = self.evidence is not None and self.evidence.reason is EvidenceReason.AUDIT
        if self.audit_share is not None and not audit:
            raise ValueError("audit_share goes with evidence kept for audit, and only then")
        return self


class EventBatch(_Contract):
    """What a device uploads: up to MAX_EVENTS_PER_BATCH of its own events."""

    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    device_id: Identifier
    sent_at: AwareDatetime
    events: tuple[DropoffEvent, ...] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)

    @model_validator(mode="after")
    def _own_unique_events(self) -> EventBatch:
        foreign = sorted({e.device_id for e in self.events if e.device_id != self.device_id})
        if foreign:
            raise ValueError(f"events of other devices in the batch: {', '.join(foreign)}")
        ids = [e.event_id for e in self.events]
        if len(set(ids)) != len(ids):
            raise ValueError("an event id appears twice in the batch")
        return self


class EventStatus(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class EventResult(_Contract):
    """The service's answer for one event of a batch; `duplicate` is an acknowledgement too."""

    event_id: UUID
    status: EventStatus
    error: str | None = None


class BatchResult(_Contract):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    received_at: datetime
    results: tuple[EventResult, ...]
