"""The model registry for ML engineers, and the question every device asks: which model?"""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.db.models import Device, ModelVersion, Role
from api.deps import (
    Caller,
    Credentials,
    DeviceDep,
    Engineer,
    SessionDep,
    SettingsDep,
    current_device,
    current_user,
)
from api.limits import read_body
from api.objects import LocalStore, model_key
from api.registry import (
    RegistryError,
    drift,
    for_station,
    move,
    register,
    stations_of,
)
from api.rollout import compare_rollout
from api.schemas import (
    DeviceModelPublic,
    ModelMove,
    ModelPublic,
    RolloutPublic,
    StationDrift,
)
from api.settings import Settings
from api.storage import objects_for

router = APIRouter(tags=["models"])


def _public(session: SessionDep, model: ModelVersion) -> ModelPublic:
    meta = model.metadata_json
    return ModelPublic(
        version=model.version,
        sha256=model.sha256,
        bytes=model.bytes,
        state=model.state,
        created_at=model.created_at,
        state_changed_at=model.state_changed_at,
        stations=stations_of(session, model),
        labels=list(meta.get("labels", [])),
        metrics=dict(meta.get("metrics", {})),
    )


def _raise(exc: RegistryError) -> NoReturn:
    code = status.HTTP_409_CONFLICT if exc.conflict else status.HTTP_422_UNPROCESSABLE_CONTENT
    raise HTTPException(code, str(exc)) from None


@router.post(
    "/models",
    response_model=ModelPublic,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload(
    request: Request, caller: Engineer, session: SessionDep, settings: SettingsDep
) -> ModelPublic:
    """Upload an ONNX model; it must carry valid binwatch metadata. It starts as a candidate."""
    data = await read_body(request, settings.max_model_bytes, "model")
    # checking and storing the model (ONNX load, disk, database) runs in the thread pool
    return await run_in_threadpool(_register, session, data, settings, caller.user.id)


def _register(session: Session, data: bytes, settings: Settings, user_id: int) -> ModelPublic:
    try:
        model = register(session, data, objects_for(settings), user_id)
    except RegistryError as exc:
        _raise(exc)
    session.commit()
    return _public(session, model)


@router.get("/models", response_model=list[ModelPublic])
def list_models(caller: Engineer, session: SessionDep) -> list[ModelPublic]:
    rows = session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc()))
    return [_public(session, m) for m in rows]


@router.post("/models/{version}/state", response_model=ModelPublic)
def change_state(
    version: str, body: ModelMove, caller: Engineer, session: SessionDep
) -> ModelPublic:
    model = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {version!r}")
    try:
        move(session, model, body.state, body.stations)
    except RegistryError as exc:
        session.rollback()
        _raise(exc)
    session.commit()
    return _public(session, model)


@router.get("/models/{version}/drift", response_model=list[StationDrift])
def model_drift(version: str, caller: Engineer, session: SessionDep) -> list[StationDrift]:
    """Per station, since this model became canary or active: flag rate and mean verdict score,
    beside the two weeks before."""
    model = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {version!r}")
    return [StationDrift.model_validate(row) for row in drift(session, model)]


@router.get(
    "/models/{version}/rollout",
    response_model=RolloutPublic,
    responses={409: {"description": "there is no other active model to compare with"}},
)
def model_rollout(
    version: str,
    caller: Engineer,
    session: SessionDep,
    days: int | None = Query(None, ge=1, le=365, description="the last N days, not since canary"),
) -> RolloutPublic:
    """This model beside the active one over the same window: flag rate, review overturn rate,
    item confidence distribution."""
    model = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {version!r}")
    compared = compare_rollout(session, model, days)
    if compared is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "there is no other active model to compare")
    return RolloutPublic.model_validate(compared)


@router.get(
    "/device/model",
    response_model=DeviceModelPublic,
    responses={404: {"description": "no model is active or canary for this station"}},
)
def device_model(device: DeviceDep, session: SessionDep) -> DeviceModelPublic:
    """The model this device's station should run now."""
    model = for_station(session, device.station_id)
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no model for this station yet")
    return DeviceModelPublic(
        version=model.version,
        sha256=model.sha256,
        bytes=model.bytes,
        url=f"/api/v1/models/files/{model.sha256}",
    )


def _device_or_engineer(
    session: SessionDep, settings: SettingsDep, credentials: Credentials
) -> Device | Caller:
    if credentials is not None and credentials.credentials.startswith("bwd_"):
        return current_device(session, credentials)
    caller = current_user(session, settings, credentials)
    if caller.role not in (Role.ADMIN, Role.ENGINEER):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "needs role admin, engineer or a device")
    return caller


@router.get(
    "/models/files/{sha256}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(
    sha256: str,
    who: Annotated[Device | Caller, Depends(_device_or_engineer)],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    model = session.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha256))
    objects = objects_for(settings)
    size = objects.size(model_key(sha256))
    if model is None or size is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no model with this sha256")
    if isinstance(who, Device) and model.state not in ("canary", "active"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no model with this sha256")
    headers = {"ETag": f'"{sha256}"'}
    if isinstance(objects, LocalStore):  # sendfile, ranges
        return FileResponse(
            objects.path(model_key(sha256)),
            media_type="application/octet-stream",
            filename=f"{model.version}.onnx",
            headers=headers,
        )
    chunks = objects.stream(model_key(sha256))  # streamed, never whole in memory
    if chunks is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no model with this sha256")
    headers["Content-Length"] = str(size)
    headers["Content-Disposition"] = f'attachment; filename="{model.version}.onnx"'
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)
