"""Per-station drift of what the model sees (api/drift.py), for engineers."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.deps import Engineer, SessionDep
from api.drift import as_dicts

router = APIRouter(tags=["models"])


class StationDriftFlag(BaseModel):
    station: str
    recent_items: int
    reference_items: int
    confidence_psi: float | None
    category_psi: float | None
    recent_mean_confidence: float | None
    reference_mean_confidence: float | None
    drifting: bool
    reason: str


@router.get("/stations/drift", response_model=list[StationDriftFlag])
def stations_drift(
    request: Request,
    caller: Engineer,
    session: SessionDep,
    refresh: bool = Query(False, description="recompute now instead of the cached result"),
) -> list[StationDriftFlag]:
    """Per station: item confidence and predicted categories of the last 3 days against the 28
    days before (population stability index); `drifting` when either reaches 0.25."""
    rows = request.app.state.drift.get(session, request.app.state.metrics, refresh)
    return [StationDriftFlag.model_validate(r) for r in as_dicts(rows)]
