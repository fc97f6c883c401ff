"""Rate limits on the routes anyone can call, counted in the database so every worker agrees.

A hit is a row (`bucket`, `at`); a bucket names what is limited and for whom (`report-client:
<keyed hash of the address>`, `report-place:<code>`, `lookup-client:…`). A request over any of its
buckets' limits within the window gets 429 with `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db.models import RateHit

WINDOW = timedelta(hours=1)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retry_after(
    session: Session, buckets: Sequence[tuple[str, int]], now: datetime, window: timedelta = WINDOW
) -> int | None:
    """Seconds until every bucket is under its limit again, or None when it is now."""
    wait = timedelta(0)
    for bucket, limit in buckets:
        newest = list(
            session.scalars(
                select(RateHit.at)
                .where(RateHit.bucket == bucket, RateHit.at > now - window)
                .order_by(RateHit.at.desc())
                .limit(limit)
            )
        )
        if len(newest) >= limit:
            wait = max(wait, _aware(newest[-1]) + window - now)
    return max(1, int(wait.total_seconds()) + 1) if wait > timedelta(0) else None


def refuse_if_over(
    session: Session, buckets: Sequence[tuple[str, int]], now: datetime, what: str
) -> None:
    wait = retry_after(session, buckets, now)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many {what} from here: try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


def hit(
    session: Session, buckets: Sequence[str], now: datetime, window: timedelta = WINDOW
) -> None:
    """Count one request in each bucket, and forget hits older than the window; caller commits."""
    session.execute(delete(RateHit).where(RateHit.at <= now - window))
    session.add_all(RateHit(bucket=bucket, at=now) for bucket in buckets)
