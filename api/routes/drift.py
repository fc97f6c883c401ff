"""Per-station drift of what the model sees (api/drift.py), for engineers."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.deps import Engineer, SessionDep
from api.schemas import StationDriftFlag

router = APIRouter(tags=["models"])


@router.get("/stations/drift", response_model=list[StationDriftFlag])
def stations_drift(
    request: Request,
    caller: Engineer,
    session: SessionDep,
    refresh: bool = Query(False, description="recompute now instead of the cached result"),
) -> list[StationDriftFlag]:
    """Per station: item confidence and predicted categories of the last 3 days against the 28
    days before (population stability index); `drifting` when either reaches 0.25."""
    rows: list[StationDriftFlag] = request.app.state.drift.get(
        session, request.app.state.metrics, refresh
    )
    return rows
