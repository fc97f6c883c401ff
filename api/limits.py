"""Request bodies bounded while they are read: 413 before a large body is buffered.

Each route class has its own limit (`Settings`), each above the largest legal payload:
an evidence image or a report photo (`max_evidence_bytes` plus room for the form), a model
(`max_model_bytes`), the places CSV (`max_csv_bytes`), a batch of events (`max_batch_bytes`: a
500-event batch is about 5 MB) and every other body (`max_json_bytes`). A declared
Content-Length over the limit is answered at once; a body sent without one (chunked) is counted
as it arrives and cut off at the limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings

FORM_ROOM = 256 * 1024  # multipart boundaries, headers and a report's text beside its photo


@dataclass(frozen=True)
class RouteClass:
    name: str
    method: str
    pattern: re.Pattern[str]


CLASSES = (
    RouteClass("batch", "POST", re.compile(r"/api/v1/ingest/events/?")),
    RouteClass("image", "PUT", re.compile(r"/api/v1/ingest/evidence/[^/]+/?")),
    RouteClass("image", "POST", re.compile(r"/api/v1/public/reports/?")),
    RouteClass("model", "POST", re.compile(r"/api/v1/models/?")),
    RouteClass("csv", "POST", re.compile(r"/api/v1/places/import/?")),
)


def limits(settings: Settings) -> dict[str, int]:
    return {
        "batch": settings.max_batch_bytes,
        "image": settings.max_evidence_bytes + FORM_ROOM,
        "model": settings.max_model_bytes + FORM_ROOM,
        "csv": settings.max_csv_bytes,
        "json": settings.max_json_bytes,
    }


def route_class(method: str, path: str) -> str:
    for known in CLASSES:
        if method == known.method and known.pattern.fullmatch(path):
            return known.name
    return "json"


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int, name: str) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes for {name}")


class BodyLimit:
    """ASGI middleware: counts the body as the app reads it and refuses it past the limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limits = limits(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = route_class(scope["method"], scope["path"])
        limit = self.limits[name]
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(send, BodyTooLargeError(limit, name))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit, name)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLargeError as exc:  # raised where no handler turned it into a response
            if started:
                raise
            await refuse(send, exc)


async def refuse(send: Send, exc: BodyTooLargeError) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The whole body of a route that takes raw bytes (an image, a model), at most `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the {what} is {declared} bytes, the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the {what} is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
