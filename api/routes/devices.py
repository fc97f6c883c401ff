"""Devices: each with its own token, shown once at creation and stored hashed (admin)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Device, Place, PlaceKind
from api.deps import Admin, SessionDep
from api.schemas import DeviceCreate, DeviceCreated, DevicePublic
from api.security import DEVICE_PREFIX, new_token, token_hash

router = APIRouter(tags=["devices"])


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


def _public(session: Session, device: Device) -> DevicePublic:
    station = session.get(Place, device.station_id)
    return DevicePublic(
        code=device.code,
        station=station.code if station else "",
        created_at=device.created_at,
        last_seen=device.last_seen,
        revoked=device.revoked,
    )


@router.post("/devices", response_model=DeviceCreated, status_code=201)
def create_device(body: DeviceCreate, caller: Admin, session: SessionDep) -> DeviceCreated:
    try:
        device, token = register_device(session, body.code, body.station)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except LookupError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return DeviceCreated(**_public(session, device).model_dump(), token=token)


@router.get("/devices", response_model=list[DevicePublic])
def list_devices(caller: Admin, session: SessionDep) -> list[DevicePublic]:
    return [_public(session, d) for d in session.scalars(select(Device).order_by(Device.code))]


@router.post("/devices/{code}/revoke", response_model=DevicePublic)
def revoke_device(code: str, caller: Admin, session: SessionDep) -> DevicePublic:
    device = session.scalar(select(Device).where(Device.code == code))
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {code!r}")
    device.revoked = True
    session.commit()
    return _public(session, device)
