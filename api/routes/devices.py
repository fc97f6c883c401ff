"""Devices: each with its own token, shown once at creation and stored hashed (admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Device, Place
from api.deps import Admin, SessionDep, SettingsDep
from api.devices import register_device
from api.schemas import DeviceCreate, DeviceCreated, DevicePublic, DeviceRotated
from api.security import DEVICE_PREFIX, new_token, token_hash

router = APIRouter(tags=["devices"])


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


@router.post("/devices/{code}/token", response_model=DeviceRotated)
def rotate_token(
    code: str, caller: Admin, session: SessionDep, settings: SettingsDep
) -> DeviceRotated:
    """A new token for the device (shown once); the old one keeps working for
    `device_token_grace_hours`, so the device can be given the new one without a gap."""
    device = session.scalar(select(Device).where(Device.code == code))
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {code!r}")
    if device.revoked:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {code!r} is revoked")
    token = new_token(DEVICE_PREFIX)
    until = datetime.now(UTC) + timedelta(hours=settings.device_token_grace_hours)
    device.previous_token_hash, device.previous_valid_until = device.token_hash, until
    device.token_hash = token_hash(token)
    session.commit()
    return DeviceRotated(
        **_public(session, device).model_dump(), token=token, previous_valid_until=until
    )
