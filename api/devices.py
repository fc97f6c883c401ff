"""Devices: each with its own token, shown once and stored hashed; made by the `/devices` route
and by `binwatch devices create`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Device, Place, PlaceKind
from api.security import DEVICE_PREFIX, new_token, token_hash


def register_device(session: Session, code: str, station_code: str) -> tuple[Device, str]:
    """A new device and its token (the only time the token exists in clear); caller commits."""
    station = session.scalar(
        select(Place).where(Place.code == station_code, Place.kind == PlaceKind.STATION.value)
    )
    if station is None:
        raise ValueError(f"no station {station_code!r}")
    if session.scalar(select(Device.id).where(Device.code == code)) is not None:
        raise LookupError(f"device {code!r} exists")
    token = new_token(DEVICE_PREFIX)
    device = Device(
        code=code,
        station_id=station.id,
        token_hash=token_hash(token),
        created_at=datetime.now(UTC),
        revoked=False,
    )
    session.add(device)
    session.flush()
    return device, token
