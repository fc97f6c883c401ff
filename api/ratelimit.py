"""Rate limits, counted in the database so every worker agrees: public reports and appeal-code
lookups (an hour's window), and failed sign-ins (`login_window_minutes`).

A hit is a row (`bucket`, `at`, `until` = at + its window); a bucket names what is limited and for
whom (`report-client:<keyed hash of the address>`, `report-place:<code>`, `lookup-client:…`,
`login-user:<username>`, `login-client:…`). A request over any of its buckets' limits within the
window gets 429 with `Retry-After` (seconds until the oldest counted hit leaves the window). Client
addresses are stored only as a keyed hash.

The client address is the peer's, unless the peer is one of `trusted_proxies` (a load balancer):
then it is the right-most address in `X-Forwarded-For` that is not itself a trusted proxy, so a
client cannot choose its own address by sending the header.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, Request, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db.models import RateHit
from api.settings import Settings

WINDOW = timedelta(hours=1)  # the public routes'
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    session: Session,
    buckets: Sequence[tuple[str, int]],
    now: datetime,
    what: str,
    window: timedelta = WINDOW,
) -> None:
    wait = retry_after(session, buckets, now, window)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many {what} from here: try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


def hit(
    session: Session, buckets: Sequence[str], now: datetime, window: timedelta = WINDOW
) -> None:
    """Count one request in each bucket, and forget every hit past its window; caller commits."""
    session.execute(delete(RateHit).where(RateHit.until <= now))
    session.add_all(RateHit(bucket=bucket, at=now, until=now + window) for bucket in buckets)


def clear(session: Session, bucket: str) -> None:
    session.execute(delete(RateHit).where(RateHit.bucket == bucket))


def _networks(settings: Settings) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in settings.trusted_proxies]


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request, settings: Settings) -> str:
    peer = request.client.host if request.client else "unknown"
    networks = _networks(settings)
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]
    for address in reversed(forwarded):
        if not _trusted(address, networks):
            return address
    return peer


def client_key(request: Request, settings: Settings) -> str:
    secret = settings.secret_key.get_secret_value().encode()
    address = client_address(request, settings)
    return hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()
