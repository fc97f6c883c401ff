"""Station set-up (engineers, admins): a camera snapshot of the station — uploaded by the engineer,
or by the device when its config poll says one is wanted (the service cannot reach devices) —
the profile's bins to choose from, and the station's YAML for the device, rendered from the
regions drawn on the snapshot (the same renderer as `binwatch edge init`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.db.models import Device, Place, PlaceKind
from api.deps import DeviceDep, Engineer, SessionDep, SettingsDep
from api.limits import read_body
from api.objects import snapshot_key
from api.settings import Settings
from api.storage import ImageRejectedError, objects_for, reencode_jpeg
from vision.station_file import (
    StationBin,
    StationFile,
    bin_problems,
    bins_region_problems,
    render,
)

router = APIRouter(tags=["stations"])
CODE = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class SnapshotPublic(BaseModel):
    station: str
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    source: str | None = Field(None, description="upload (an engineer) or device")
    wanted: bool = Field(False, description="asked of the station's device, not sent yet")


class BinDrawn(BaseModel):
    id: str = Field(pattern=CODE)
    category: str = Field(max_length=64)
    roi: list[tuple[int, int]] = Field(min_length=3, max_length=64)


class StationFileRequest(BaseModel):
    bins: list[BinDrawn] = Field(min_length=1, max_length=16)
    width: int = Field(ge=16, le=8192)
    height: int = Field(ge=16, le=8192)
    device_id: str | None = Field(None, pattern=CODE, description="default: the station's")
    source_uri: str = Field("rtsp://192.168.1.64:554/Streaming/Channels/101", max_length=500)
    source_kind: str = Field("stream", pattern="^(stream|camera|file|folder)$")


def _station(session: SessionDep, code: str) -> Place:
    station = session.scalar(
        select(Place).where(Place.code == code, Place.kind == PlaceKind.STATION.value)
    )
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no station {code!r}")
    return station


def _state(settings: Settings, code: str) -> SnapshotPublic:
    objects = objects_for(settings)
    wanted = objects.size(snapshot_key(code, "wanted")) is not None
    meta = objects.get(snapshot_key(code, "txt"))  # written after the frame
    if meta is None:
        return SnapshotPublic(station=code, wanted=wanted)
    width, height, source, taken = meta.decode().split()
    return SnapshotPublic(
        station=code,
        width=int(width),
        height=int(height),
        taken_at=datetime.fromisoformat(taken),
        source=source,
        wanted=wanted,
    )


def _keep(settings: Settings, code: str, data: bytes, source: str) -> SnapshotPublic:
    try:  # people pass the bins: faces pixelated before the frame is kept
        jpeg, width, height = reencode_jpeg(data, settings.max_evidence_bytes, blur=True)
    except ImageRejectedError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    objects = objects_for(settings)
    objects.put(snapshot_key(code), jpeg)
    taken = datetime.now(UTC).isoformat()
    objects.put(snapshot_key(code, "txt"), f"{width} {height} {source} {taken}\n".encode())
    objects.delete(snapshot_key(code, "wanted"))
    return _state(settings, code)


def _engineer_upload(
    session: Session, settings: Settings, code: str, data: bytes
) -> SnapshotPublic:
    _station(session, code)
    return _keep(settings, code, data, "upload")


def _device_upload(
    session: Session, settings: Settings, device: Device, data: bytes
) -> SnapshotPublic:
    station = session.get(Place, device.station_id)
    assert station is not None
    return _keep(settings, station.code, data, "device")


@router.put("/stations/{code}/snapshot", response_model=SnapshotPublic)
async def upload_snapshot(
    code: str, request: Request, caller: Engineer, session: SessionDep, settings: SettingsDep
) -> SnapshotPublic:
    """A frame of the station's camera, uploaded by the engineer (a JPEG or PNG body)."""
    del caller
    data = await read_body(request, settings.max_evidence_bytes, "snapshot")
    # the database, the decoder and the store run in the thread pool, never in the event loop
    return await run_in_threadpool(_engineer_upload, session, settings, code, data)


@router.get("/stations/{code}/snapshot", response_model=SnapshotPublic)
def snapshot_state(
    code: str, caller: Engineer, session: SessionDep, settings: SettingsDep
) -> SnapshotPublic:
    del caller
    _station(session, code)
    return _state(settings, code)


@router.get("/stations/{code}/snapshot.jpg", response_class=Response)
def snapshot_image(
    code: str, caller: Engineer, session: SessionDep, settings: SettingsDep
) -> Response:
    del caller
    _station(session, code)
    data = objects_for(settings).get(snapshot_key(code))
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no snapshot of this station yet")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/stations/{code}/snapshot/request", response_model=SnapshotPublic)
def request_snapshot(
    code: str, caller: Engineer, session: SessionDep, settings: SettingsDep
) -> SnapshotPublic:
    """Ask the station's device for a frame: its next config poll says so, and it uploads one."""
    del caller
    _station(session, code)
    objects_for(settings).put(snapshot_key(code, "wanted"), b"")
    return _state(settings, code)


@router.put("/device/snapshot", response_model=SnapshotPublic)
async def device_snapshot(
    request: Request, device: DeviceDep, session: SessionDep, settings: SettingsDep
) -> SnapshotPublic:
    """A device's frame of its station, sent when its config poll asked for one."""
    data = await read_body(request, settings.max_evidence_bytes, "snapshot")
    return await run_in_threadpool(_device_upload, session, settings, device, data)


@router.post("/stations/{code}/station.yaml", response_class=Response)
def station_file(
    code: str,
    body: StationFileRequest,
    request: Request,
    caller: Engineer,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The station's YAML for its device: the regions drawn, each bin's category checked against
    the station's profile and each region against the frame (every problem named at once)."""
    del caller
    station = _station(session, code)
    drawn = [b.model_dump(mode="json") for b in body.bins]
    found = bin_problems(drawn, station.profile)
    found += bins_region_problems(drawn, (body.width, body.height), "the snapshot")
    problems = [f"{path}: {message}" for path, message in found]
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems)
    device = body.device_id or session.scalar(
        select(Device.code).where(Device.station_id == station.id, Device.revoked.is_(False))
    )
    spec = StationFile(
        station=station.code,
        device=device,
        service_url=settings.public_url or str(request.base_url).rstrip("/"),
        profile=station.profile,
        width=body.width,
        height=body.height,
        source_kind=body.source_kind,
        source_uri=body.source_uri,
        bins=[StationBin(b.id, b.category, list(b.roi)) for b in body.bins],
    )
    return Response(
        render(spec),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{station.code}.yaml"'},
    )
