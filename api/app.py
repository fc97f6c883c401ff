"""`create_app(settings)`: the service, its engine and its metrics, built per call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial

from fastapi import FastAPI

from api import errors, web
from api.db.engine import make_engine, make_sessionmaker
from api.db.partitions import ensure_now
from api.db.slots import DatabaseSlots, request_slots
from api.drift import DriftCache, refresh_gauges
from api.limits import BodyLimit
from api.measure import RequestMetrics
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
    app.add_middleware(BodyLimit, settings=settings)  # inside RequestMetrics: its 413s counted
    app.add_middleware(DatabaseSlots, slots=request_slots(settings))
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)  # outermost: it times them all

    return app
