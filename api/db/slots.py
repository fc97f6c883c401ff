"""As many API requests at a time as the database pool can serve; the rest wait in the event
loop, not in the thread pool.

Request handlers and their session dependency run in the thread pool (40 threads a process).
Without a bound, a burst of devices (hundreds of stations posting at once) fills every thread
with handlers waiting for a pooled connection, while the requests that hold connections wait
for a thread to close their session: nothing moves until the pool's timeout fails them all
(bench/city.py found it: 200 devices, no event stored in two minutes, the machine idle). Each
process lets `db_connections - 4` requests under /api/ in at a time (a few connections stay
for the background tasks and for sessions still closing); /health and the pages never wait.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from api.settings import Settings

SPARE = 4  # connections not given to requests: background tasks, sessions still closing


def request_slots(settings: Settings) -> int:
    return max(1, settings.db_connections - SPARE)


class DatabaseSlots:
    """Pure ASGI middleware (a streamed response keeps its slot until it is sent)."""

    def __init__(self, app: ASGIApp, slots: int):
        self.app = app
        self.slots = slots
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # made in the server's event loop
            self._semaphore = asyncio.Semaphore(self.slots)
        async with self._semaphore:
            await self.app(scope, receive, send)
