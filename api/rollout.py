"""A canary beside the active model over the same days: flag rate, review overturn rate and the
distribution of item confidence, each from the drop-offs that model decided.

The window starts when the canary became canary (or `days` back when given) and ends now; only
events captured inside it count, for both models, so a busy week or a holiday weighs on both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.clock import aware
from api.db.models import Event, ModelVersion, Review
from api.drift import EDGES, confidence_histogram, confidences, sample_items

SAMPLE = 50_000  # the newest events read per model for the confidence distribution


def _side(session: Session, version: str, start: datetime, end: datetime) -> dict[str, Any]:
    window = (
        Event.model_version == version,
        Event.captured_at >= start,
        Event.captured_at < end,
        # local days around the window: PostgreSQL reads only those months' partitions
        Event.day >= (start - timedelta(days=1)).date(),
        Event.day <= (end + timedelta(days=1)).date(),
    )
    total, scored, flagged = session.execute(
        select(
            func.count(),
            func.count().filter(Event.verdict.in_(("correct", "contaminated"))),
            func.count().filter(Event.verdict == "contaminated"),
        ).where(*window)
    ).one()
    decisions = dict(
        session.execute(
            select(Review.decision, func.count())
            .join(Event, Event.id == Review.event_id)
            .where(*window, Review.superseded_by.is_(None), Review.withdrawn.is_(False))
            .group_by(Review.decision)
        ).all()
    )
    reviewed = sum(n for d, n in decisions.items() if d in ("confirm", "overturn"))
    values = confidences(sample_items(session, *window, limit=SAMPLE))
    histogram = confidence_histogram(values)
    return {
        "version": version,
        "events": int(total),
        "scored": int(scored),
        "flag_rate": flagged / scored if scored else None,
        "reviewed": reviewed,
        "overturn_rate": decisions.get("overturn", 0) / reviewed if reviewed else None,
        "items": len(values),
        "mean_confidence": float(values.mean()) if len(values) else None,
        "confidence_p10": float(np.quantile(values, 0.1)) if len(values) else None,
        "confidence_median": float(np.median(values)) if len(values) else None,
        "confidence_histogram": [int(n) for n in histogram],
    }


def compare_rollout(
    session: Session, model: ModelVersion, days: int | None = None
) -> dict[str, Any] | None:
    """The model beside the active one; None when there is no other active model to compare."""
    active = session.scalar(
        select(ModelVersion).where(ModelVersion.state == "active", ModelVersion.id != model.id)
    )
    if active is None:
        return None
    end = datetime.now(UTC)
    since = model.state_changed_at or model.created_at
    since = aware(since)
    start = end - timedelta(days=days) if days else since
    mine, theirs = (
        _side(session, model.version, start, end),
        _side(session, active.version, start, end),
    )

    def diff(key: str) -> float | None:
        a, b = mine[key], theirs[key]
        return None if a is None or b is None else a - b

    return {
        "start": start,
        "end": end,
        "model": mine,
        "active": theirs,
        "difference": {k: diff(k) for k in ("flag_rate", "overturn_rate", "mean_confidence")},
        "histogram_edges": [round(float(e), 1) for e in EDGES],
    }
