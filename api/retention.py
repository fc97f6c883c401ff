"""Evidence retention: images older than `retention_days` are deleted, the devices' evidence and
the photos residents send with a report alike; the events, reports and their counters stay
(statistics do not depend on images)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Event, Report
from api.settings import Settings
from api.storage import evidence_for

log = logging.getLogger(__name__)


def purge_evidence(session: Session, settings: Settings, now: datetime) -> int:
    """Delete the evidence images of events captured before the retention cut-off; returns how
    many. The caller commits."""
    cutoff = now - timedelta(days=settings.retention_days)
    store = evidence_for(settings)
    purged = 0
    events = session.scalars(select(Event).where(Event.evidence_stored, Event.captured_at < cutoff))
    for event in events:
        store.delete(event.event_id)
        event.evidence_stored = False
        purged += 1
    reports = session.scalars(
        select(Report).where(Report.image_sha256.is_not(None), Report.created_at < cutoff)
    )
    for report in reports:
        store.delete_report(report.id)
        report.image_sha256 = None
        purged += 1
    log.info("purged %d evidence and report images from before %s", purged, cutoff.isoformat())
    return purged
