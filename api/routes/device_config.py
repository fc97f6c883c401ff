"""`GET /api/v1/device/config`: what a device polls — its audit share and its model."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.db.models import Place
from api.deps import DeviceDep, SessionDep, SettingsDep
from api.objects import snapshot_key
from api.registry import for_station
from api.sampling import plan_for_station
from api.schemas import AuditPlanPublic, DeviceConfigPublic, DeviceModelPublic
from api.storage import objects_for

router = APIRouter(tags=["devices"])
POLL_SECONDS = 300


@router.get("/device/config", response_model=DeviceConfigPublic)
def device_config(
    device: DeviceDep, session: SessionDep, settings: SettingsDep
) -> DeviceConfigPublic:
    """The station's audit share (the one place that sets it; it adapts per station, see
    api/sampling.py) and the model it should run (null while none is registered)."""
    station = session.get(Place, device.station_id)
    assert station is not None
    plan = plan_for_station(session, station, settings, datetime.now(UTC))
    model = for_station(session, device.station_id)
    objects = objects_for(settings)
    return DeviceConfigPublic(
        station=station.code,
        profile=station.profile,
        audit_share=plan.share,
        audit=AuditPlanPublic(**vars(plan)),
        model=None
        if model is None
        else DeviceModelPublic(
            version=model.version,
            sha256=model.sha256,
            bytes=model.bytes,
            url=f"/api/v1/models/files/{model.sha256}",
        ),
        poll_seconds=POLL_SECONDS,
        snapshot_wanted=objects.size(snapshot_key(station.code, "wanted")) is not None,
    )
