"""Requests counted and timed per route template and status, as a pure ASGI middleware.

Starlette's `@app.middleware("http")` runs every request through a task group and memory
streams; this one only watches `send` for the status, and times a request until its last body
byte is handed to the server (a streamed response is timed while it streams)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics


def route_of(scope: Scope) -> str:
    """The route's template (`/api/v1/places/{code}`), so metrics do not grow per id."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception no handler answered: the server's 500 is counted here

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route, method = route_of(scope), str(scope["method"])
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
