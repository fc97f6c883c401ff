"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from api.db.migrate import current, head
from api.deps import SessionDep
from vision.version import __version__

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str | None
    schema_current: bool


@router.get("/health", response_model=HealthPublic)
def health(request: Request, session: SessionDep, response: Response) -> HealthPublic:
    session.execute(text("SELECT 1"))
    revision = current(request.app.state.engine)
    up_to_date = revision == head()
    if not up_to_date:
        response.status_code = 503
    return HealthPublic(
        status="ok" if up_to_date else "migrate",
        version=__version__,
        database=session.get_bind().dialect.name,
        schema_revision=revision,
        schema_current=up_to_date,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
def metrics(request: Request) -> Response:
    """The counters and gauges as they stand; the drift gauges are refreshed on a schedule
    (`drift_refresh_seconds`, api/drift.py), never by a scrape."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
