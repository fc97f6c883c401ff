"""The service's background work: a step run now and then every so often, in the thread pool
(it reads the database); a failure (a database not yet migrated, a lost connection) is logged and
the step tried again next time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)


async def repeat(step: Callable[[], object], every: float, what: str) -> None:
    while True:
        try:
            await run_in_threadpool(step)
        except Exception as exc:
            log.warning("%s failed: %s", what, exc)
        await asyncio.sleep(every)
