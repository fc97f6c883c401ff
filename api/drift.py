"""Per-station drift: has what a station's model sees changed? A dirty lens, a camera knocked
sideways, new lighting or a new kind of bag all move the distribution of the model's confidence
and of the categories it predicts, long before anyone reviews an image.

For every station, the items of the last `RECENT_DAYS` are compared with those of the
`REFERENCE_DAYS` before them, by the population stability index (PSI) of two histograms: item
confidence (ten bins of 0.1) and predicted category. A station is flagged when either PSI reaches
`THRESHOLD` (0.25, the usual "significant shift") and both windows hold at least `MIN_ITEMS`
items. The service recomputes it on a schedule (`drift_refresh_seconds`: `refresh_gauges`, run
by `api.periodic.repeat`) and exports it as Prometheus gauges; a scrape of /metrics only reads
them. The engineers' route serves the result cached for `CACHE_SECONDS` (or recomputes on request).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from api.db.models import Event, Place, PlaceKind
from api.schemas import StationDriftFlag as StationDrift
from vision.taxonomy import Category

log = logging.getLogger(__name__)

RECENT_DAYS = 3
REFERENCE_DAYS = 28
THRESHOLD = 0.25
MIN_ITEMS = 50
SAMPLE = 5_000  # newest events per station and window
CACHE_SECONDS = 300.0
EDGES = np.linspace(0.0, 1.0, 11)
CATEGORIES = [c.value for c in Category]


def psi(recent: np.ndarray, reference: np.ndarray, floor: float = 1e-3) -> float:
    """Population stability index of two count histograms (a floor keeps empty bins finite)."""
    p = np.maximum(recent / max(1, recent.sum()), floor)
    q = np.maximum(reference / max(1, reference.sum()), floor)
    p, q = p / p.sum(), q / q.sum()
    return float(((p - q) * np.log(p / q)).sum())


def sample_items(session: Session, *where: Any, limit: int = SAMPLE) -> list[dict[str, Any]]:
    """The items of the newest `limit` events that match `where` (also used by api/rollout.py)."""
    rows = session.scalars(
        select(Event.items).where(*where).order_by(Event.captured_at.desc()).limit(limit)
    )
    return [item for items in rows for item in items or []]


def confidences(items: list[dict[str, Any]]) -> np.ndarray:
    return np.array([float(i.get("confidence", 0.0)) for i in items], np.float64)


def confidence_histogram(values: np.ndarray) -> np.ndarray:
    """Counts in ten bins of 0.1 (EDGES)."""
    return np.histogram(values, bins=EDGES)[0]


def _histograms(items: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, float | None]:
    confidence = confidences(items)
    by_conf = confidence_histogram(confidence).astype(np.float64)
    by_cat = np.array([sum(i.get("category") == c for i in items) for c in CATEGORIES], np.float64)
    return by_conf, by_cat, float(confidence.mean()) if len(confidence) else None


def station_drift(session: Session, now: datetime | None = None) -> list[StationDrift]:
    now = now or datetime.now(UTC)
    split = now - timedelta(days=RECENT_DAYS)
    start = split - timedelta(days=REFERENCE_DAYS)
    out = []
    stations = session.execute(
        select(Place.id, Place.code)
        .where(Place.kind == PlaceKind.STATION.value)
        .order_by(Place.code)
    ).all()
    # the day bound lets PostgreSQL read only the partitions of these weeks
    here_days = Event.day >= (start - timedelta(days=1)).date()
    for station_id, code in stations:
        here = and_(Event.station_id == station_id, here_days)
        recent = sample_items(session, here, Event.captured_at >= split, Event.captured_at < now)
        reference = sample_items(
            session, here, Event.captured_at >= start, Event.captured_at < split
        )
        rc, rk, rmean = _histograms(recent)
        fc, fk, fmean = _histograms(reference)
        enough = len(recent) >= MIN_ITEMS and len(reference) >= MIN_ITEMS
        conf_psi = psi(rc, fc) if enough else None
        cat_psi = psi(rk, fk) if enough else None
        reasons = []
        if conf_psi is not None and conf_psi >= THRESHOLD:
            reasons.append(f"confidence moved (PSI {conf_psi:.2f})")
        if cat_psi is not None and cat_psi >= THRESHOLD:
            reasons.append(f"predicted categories moved (PSI {cat_psi:.2f})")
        if not enough:
            reasons.append(f"too few items to judge (need {MIN_ITEMS} in each window)")
        out.append(
            StationDrift(
                station=code,
                recent_items=len(recent),
                reference_items=len(reference),
                confidence_psi=conf_psi,
                category_psi=cat_psi,
                recent_mean_confidence=rmean,
                reference_mean_confidence=fmean,
                drifting=enough and any("moved" in r for r in reasons),
                reason="; ".join(reasons) or "stable",
            )
        )
    return out


class DriftCache:
    """The last computed drift, recomputed when older than CACHE_SECONDS; updates the gauges."""

    def __init__(self) -> None:
        self.computed_at = 0.0
        self.rows: list[StationDrift] = []

    def get(self, session: Session, metrics: Any, refresh: bool = False) -> list[StationDrift]:
        if refresh or time.monotonic() - self.computed_at > CACHE_SECONDS or not self.computed_at:
            self.rows = station_drift(session)
            self.computed_at = time.monotonic()
            for row in self.rows:
                metrics.drifting.labels(row.station).set(1.0 if row.drifting else 0.0)
                for measure, value in (
                    ("confidence", row.confidence_psi),
                    ("category", row.category_psi),
                ):
                    metrics.drift_psi.labels(row.station, measure).set(
                        float("nan") if value is None else value
                    )
        return self.rows


def refresh_gauges(app: Any) -> None:
    """Recompute every station's drift and set the gauges (the schedule's one step)."""
    with app.state.sessions() as session:
        app.state.drift.get(session, app.state.metrics, refresh=True)
