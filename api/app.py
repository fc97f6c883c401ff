"""`create_app(settings)`: the service, its engine and its metrics, built per call."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from api import web
from api.db.engine import make_engine, make_sessionmaker
from api.drift import DriftCache
from api.metrics import Metrics
from api.routes import (
    assessment,
    auth,
    device_config,
    devices,
    drift,
    exports,
    health,
    ingest,
    inspections,
    places,
    public,
    registry,
    review,
    stats,
    taxonomy,
)
from api.settings import Settings
from binwatch import __version__

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def _route_of(request: Request) -> str:
    """The route's template (`/api/v1/places/{code}`), so metrics do not grow per id."""
    return str(getattr(request.scope.get("route"), "path", "unmatched"))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings)
    app = FastAPI(
        title="binwatch",
        version=__version__,
        description="Ingest of drop-off events, statistics, review queue and model registry.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.metrics = Metrics()
    app.state.drift = DriftCache()
    app.include_router(health.router)
    for module in (
        auth,
        places,
        inspections,
        assessment,
        devices,
        device_config,
        ingest,
        stats,
        review,
        public,
        registry,
        exports,
        taxonomy,
        drift,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    web.mount(app)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_of(request)
        metrics: Metrics = request.app.state.metrics
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    return app
