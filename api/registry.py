"""The model registry: validated uploads, states, canary stations, what a device should run.

States: candidate → canary (on named stations) → active (the fleet) → retired. Promoting one
model to active retires the one before it; a retired model can come back (rollback).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from api.clock import aware
from api.db.models import CanaryStation, Event, ModelVersion, Place, PlaceKind
from api.objects import ObjectStore, model_key
from vision.classifier import Classifier
from vision.errors import BinwatchError

log = logging.getLogger(__name__)
STATES = ("candidate", "canary", "active", "retired")
MOVES = {
    "candidate": {"canary", "retired"},
    "canary": {"active", "candidate", "retired"},
    "active": {"retired"},
    "retired": {"canary", "active"},
}


class RegistryError(ValueError):
    def __init__(self, message: str, conflict: bool = False):
        super().__init__(message)
        self.conflict = conflict


def register(
    session: Session, data: bytes, objects: ObjectStore, user_id: int | None
) -> ModelVersion:
    """Check an uploaded file with the same reader devices use, then store it by its sha256."""
    digest = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "upload.onnx"
        candidate.write_bytes(data)
        try:
            metadata = Classifier(candidate).metadata
        except BinwatchError as exc:
            raise RegistryError(str(exc).replace(str(candidate), "the upload")) from None
    if session.scalar(select(ModelVersion.id).where(ModelVersion.sha256 == digest)):
        raise RegistryError("this file is registered already", conflict=True)
    if session.scalar(
        select(ModelVersion.id).where(ModelVersion.version == metadata.model_version)
    ):
        raise RegistryError(f"version {metadata.model_version!r} exists", conflict=True)
    objects.put(model_key(digest), data)
    row = ModelVersion(
        version=metadata.model_version,
        sha256=digest,
        bytes=len(data),
        state="candidate",
        metadata_json=metadata.model_dump(mode="json"),
        created_at=datetime.now(UTC),
        created_by=user_id,
    )
    session.add(row)
    session.flush()
    log.info("registered model %s (%s)", row.version, digest[:12])
    return row


def move(session: Session, model: ModelVersion, state: str, stations: list[str]) -> None:
    if state not in MOVES.get(model.state, set()):
        raise RegistryError(f"a {model.state} model cannot become {state}", conflict=True)
    if state == "canary":
        if not stations:
            raise RegistryError("a canary needs the stations that run it")
        set_stations(session, model, stations)
    else:
        session.execute(delete(CanaryStation).where(CanaryStation.model_id == model.id))
    if state == "active":
        for other in session.scalars(select(ModelVersion).where(ModelVersion.state == "active")):
            other.state = "retired"
    model.state = state
    if state in ("canary", "active"):
        model.state_changed_at = datetime.now(UTC)


def drift(session: Session, model: ModelVersion, baseline_days: int = 14) -> list[dict[str, Any]]:
    """Per station: flag rate and mean verdict score (the probability the least certain item
    belongs) of the drop-offs this model decided since it became canary or active, beside the
    same for the `baseline_days` before, whatever model ran then."""
    since = model.state_changed_at
    if since is None:
        return []
    since = aware(since)
    scored = Event.verdict.in_(("correct", "contaminated"))

    def per_station(*where: Any) -> dict[int, tuple[int, float, float | None]]:
        rows = session.execute(
            select(
                Event.station_id,
                func.count(),
                func.avg(case((Event.verdict == "contaminated", 1.0), else_=0.0)),
                func.avg(Event.score),
            )
            .where(scored, *where)
            .group_by(Event.station_id)
        ).all()
        return {
            sid: (int(n), float(flag or 0), None if s is None else float(s))
            for sid, n, flag, s in rows
        }

    after = per_station(Event.model_version == model.version, Event.captured_at >= since)
    before = per_station(
        Event.captured_at < since, Event.captured_at >= since - timedelta(days=baseline_days)
    )
    codes = dict(
        session.execute(
            select(Place.id, Place.code).where(Place.id.in_(set(after) | set(before)))
        ).all()
    )
    out = []
    for sid in sorted(set(after) | set(before), key=lambda i: codes.get(i, "")):
        n, flag, score = after.get(sid, (0, 0.0, None))
        bn, bflag, bscore = before.get(sid, (0, 0.0, None))
        out.append(
            {
                "station": codes.get(sid, "?"),
                "events": n,
                "flag_rate": flag if n else None,
                "mean_score": score,
                "baseline_events": bn,
                "baseline_flag_rate": bflag if bn else None,
                "baseline_mean_score": bscore,
                "score_drift": None if score is None or bscore is None else score - bscore,
            }
        )
    return out


def set_stations(session: Session, model: ModelVersion, codes: list[str]) -> None:
    places = list(
        session.scalars(
            select(Place).where(Place.code.in_(codes), Place.kind == PlaceKind.STATION.value)
        )
    )
    missing = sorted(set(codes) - {p.code for p in places})
    if missing:
        raise RegistryError(f"no station(s) {', '.join(missing)}")
    session.execute(delete(CanaryStation).where(CanaryStation.model_id == model.id))
    session.add_all(CanaryStation(model_id=model.id, station_id=p.id) for p in places)


def stations_of(session: Session, model: ModelVersion) -> list[str]:
    return sorted(
        session.scalars(
            select(Place.code)
            .join(CanaryStation, CanaryStation.station_id == Place.id)
            .where(CanaryStation.model_id == model.id)
        )
    )


def for_station(session: Session, station_id: int) -> ModelVersion | None:
    """The newest canary that names this station, else the active model."""
    canary = session.scalar(
        select(ModelVersion)
        .join(CanaryStation, CanaryStation.model_id == ModelVersion.id)
        .where(CanaryStation.station_id == station_id, ModelVersion.state == "canary")
        .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    )
    if canary is not None:
        return canary
    return session.scalar(select(ModelVersion).where(ModelVersion.state == "active"))
