"""Error answers that cost little and say enough: a validation error names each mistake without
sending the request back (a 50 MB body must not come back as a 50 MB answer), a number out of the
database's range is the caller's mistake (422, not 500), and a busy decoder asks to come back."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from api.objects import StoreUnavailableError
from api.storage import DecoderBusyError

log = logging.getLogger(__name__)
ECHO_LIMIT = 200  # characters of a rejected value repeated in the answer, at most


def quiet(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors with each rejected `input` kept only when it is short."""
    out = []
    for error in errors:
        item = {k: v for k, v in error.items() if k not in ("input", "url")}
        if "input" in error:
            try:
                shown = json.dumps(jsonable_encoder(error["input"]), ensure_ascii=False)
            except (TypeError, ValueError):
                shown = None
            if shown is not None and len(shown) <= ECHO_LIMIT:
                item["input"] = error["input"]
        out.append(item)
    encoded: list[dict[str, Any]] = jsonable_encoder(out)
    return encoded


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": quiet(exc.errors())},
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
        log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "a number in the request is out of range"},
        )

    @app.exception_handler(DecoderBusyError)
    @app.exception_handler(StoreUnavailableError)
    async def busy(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, StoreUnavailableError):
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": str(exc)},
            headers={"Retry-After": "60"},
        )
