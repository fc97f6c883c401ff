"""Devices report here: batches of drop-off events, then the evidence images of some of them."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.db.models import Device, Event
from api.deps import DeviceDep, SessionDep, SettingsDep
from api.ingest import ingest
from api.limits import read_body
from api.metrics import Metrics
from api.schemas import EvidencePublic
from api.settings import Settings
from api.storage import ImageRejectedError, evidence_for, reencode_jpeg
from vision.events import BatchResult, EventBatch, EventStatus

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])


@router.post("/ingest/events", response_model=BatchResult)
def post_events(
    batch: EventBatch,
    device: DeviceDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> BatchResult:
    """Store a batch of the device's events. Each event is stored once (an id sent again is
    acknowledged as `duplicate`); an event that does not fit this device's station and bins is
    `rejected` with the reason, and the others are stored."""
    if batch.device_id != device.code:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this token belongs to device {device.code!r}"
        )
    results = ingest(session, device, batch, settings)
    session.commit()
    for result in results:
        request.app.state.metrics.events.labels(result.status.value).inc()
    return BatchResult(received_at=datetime.now(UTC), results=tuple(results))


@router.put(
    "/ingest/evidence/{event_id}",
    response_model=EvidencePublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_evidence(
    event_id: UUID,
    request: Request,
    device: DeviceDep,
    session: SessionDep,
    settings: SettingsDep,
) -> EvidencePublic:
    """The evidence JPEG of one of this device's stored events. It must match the sha256 the
    event declared; it is decoded and re-encoded before it is kept. Sending it again is fine."""
    data = await read_body(request, settings.max_evidence_bytes, "image")
    # the database, the decoder and the disk run in the thread pool, never in the event loop
    return await run_in_threadpool(
        store_evidence, event_id, data, device, session, settings, request.app.state.metrics
    )


def store_evidence(
    event_id: UUID,
    data: bytes,
    device: Device,
    session: Session,
    settings: Settings,
    metrics: Metrics,
) -> EvidencePublic:
    event = session.scalar(select(Event).where(Event.event_id == event_id))
    if event is None or event.device_id != device.id:
        metrics.evidence.labels("unknown_event").inc()
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no event {event_id} of this device: send the event first"
        )
    if not event.evidence:
        raise HTTPException(status.HTTP_409_CONFLICT, "this event declared no evidence image")
    digest = hashlib.sha256(data).hexdigest()
    if digest != event.evidence["sha256"]:
        metrics.evidence.labels("mismatch").inc()
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "image sha256 differs from the one the event declared",
        )
    try:
        jpeg, width, height = reencode_jpeg(data, settings.max_evidence_bytes)
    except ImageRejectedError as exc:
        metrics.evidence.labels("rejected").inc()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    evidence_for(settings).put(event_id, jpeg)
    event.evidence_stored = True
    session.commit()
    metrics.evidence.labels(EventStatus.STORED.value).inc()
    log.info("evidence for event %s stored (%d bytes)", event_id, len(jpeg))
    return EvidencePublic(
        event_id=str(event_id),
        sha256=hashlib.sha256(jpeg).hexdigest(),
        bytes=len(jpeg),
        width=width,
        height=height,
    )
