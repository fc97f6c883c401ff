"""Sign-in throttling, counted in the database so every worker process agrees.

After `login_user_failures` failed sign-ins for one username, or `login_client_failures` from one
client address, within `login_window_minutes`, sign-in answers 429 with `Retry-After` (seconds
until the oldest counted failure leaves the window) without checking the password. A success
clears the username's failures. Client addresses are stored only as a keyed hash.

The client address is the peer's, unless the peer is one of `trusted_proxies` (a load balancer):
then it is the right-most address in `X-Forwarded-For` that is not itself a trusted proxy, so a
client cannot choose its own address by sending the header.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.db.models import LoginFailure
from api.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retry_after(
    session: Session, username: str, client: str, settings: Settings, now: datetime
) -> int | None:
    """Seconds until this username and client may try again, or None when they may now."""
    window = timedelta(minutes=settings.login_window_minutes)
    wait = timedelta(0)
    for column, value, limit in (
        (LoginFailure.username, username, settings.login_user_failures),
        (LoginFailure.client, client, settings.login_client_failures),
    ):
        newest = list(
            session.scalars(
                select(LoginFailure.at)
                .where(column == value, LoginFailure.at > now - window)
                .order_by(LoginFailure.at.desc())
                .limit(limit)
            )
        )
        if len(newest) >= limit:
            wait = max(wait, _aware(newest[-1]) + window - now)
    return max(1, int(wait.total_seconds()) + 1) if wait > timedelta(0) else None


def record_failure(
    session: Session, username: str, client: str, settings: Settings, now: datetime
) -> None:
    """Count a failed sign-in and forget the ones older than the window; the caller commits."""
    window = timedelta(minutes=settings.login_window_minutes)
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - window))
    session.add(LoginFailure(username=username, client=client, at=now))


def clear(session: Session, username: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
