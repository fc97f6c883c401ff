"""Downloads: reviewed samples for retraining (engineers) and the monthly report (offices)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse

from api.db.models import PlaceKind
from api.deps import Engineer, Reader, SessionDep, SettingsDep, place_in_scope
from api.monthly import month_bounds, rows, to_csv, to_xlsx
from api.samples import stream_zip
from api.storage import evidence_for

router = APIRouter(tags=["exports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/export/reviewed.zip",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "manifest.csv, skipped.csv and images/",
        }
    },
)
def reviewed_samples(
    caller: Engineer,
    session: SessionDep,
    settings: SettingsDep,
    start: date,
    end: date,
    place: str | None = Query(None, description="limit to a node of the place tree"),
) -> StreamingResponse:
    """Evidence crops with their reviewed labels, in the shared manifest format."""
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end is before start")
    node = place_in_scope(session, caller, place) if place else None
    name = f"binwatch-reviewed-{start}-{end}.zip"
    return StreamingResponse(
        stream_zip(session, evidence_for(settings), node, start, end),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/monthly",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
def monthly(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    place: str = Query(description="a district or street code"),
    month: str = Query(pattern=r"^\d{4}-\d{2}$", description="e.g. 2026-11"),
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    """Per compound: participation, accuracy (raw and corrected), contamination, drop-offs and
    reviews."""
    node = place_in_scope(session, caller, place)
    if node.kind not in (PlaceKind.DISTRICT, PlaceKind.STREET):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "the monthly report is for a district or a street",
        )
    try:
        month_bounds(month)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    table = rows(session, node, month, settings.zone, settings.correction_rules)
    name = f"binwatch-{node.code}-{month}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "xlsx":
        return Response(to_xlsx(table, f"{node.code} {month}"), media_type=XLSX, headers=headers)
    return Response(to_csv(table), media_type="text/csv; charset=utf-8", headers=headers)
