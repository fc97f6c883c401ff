"""`create_app(settings)`: the service, its engine and its metrics, built per call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

from fastapi import FastAPI, Request, Response

from api import errors, web
from api.db.engine import make_engine, make_sessionmaker
from api.db.partitions import ensure_now
from api.db.slots import DatabaseSlots, request_slots
from api.drift import DriftCache, refresh_gauges
from api.limits import BodyLimit
from api.metrics import Metrics
from api.objects_s3 import S3Store
from api.periodic import repeat
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
    stations,
    stats,
    taxonomy,
)
from api.settings import Settings
from api.storage import objects_for
from vision.version import __version__

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
PARTITIONS_EVERY = 6 * 3600  # seconds between checks that next months' partitions exist


def _route_of(request: Request) -> str:
    """The route's template (`/api/v1/places/{code}`), so metrics do not grow per id."""
    return str(getattr(request.scope.get("route"), "path", "unmatched"))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.storage_url is not None:  # the bucket must be there before anything is kept
        objects = objects_for(settings)
        assert isinstance(objects, S3Store)
        objects.check(create=settings.storage_create)
    engine = make_engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(
                repeat(partial(refresh_gauges, app), settings.drift_refresh_seconds, "drift gauges")
            ),
            asyncio.create_task(
                repeat(partial(ensure_now, app.state.sessions), PARTITIONS_EVERY, "partitions")
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="binwatch",
        version=__version__,
        description="Ingest of drop-off events, statistics, review queue and model registry.",
        lifespan=lifespan,
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
        stations,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    web.mount(app)
    errors.install(app)
    app.add_middleware(BodyLimit, settings=settings)  # inside `measure`: its 413s are counted
    app.add_middleware(DatabaseSlots, slots=request_slots(settings))

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500  # an exception no handler answered: the server's 500 is counted here
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_of(request)
            metrics: Metrics = request.app.state.metrics
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)

    return app
