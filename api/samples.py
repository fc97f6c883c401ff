"""Reviewed samples for retraining: evidence crops with their reviewed labels, as a manifest in
the shared format (`../shared/datasets/*/manifest.csv`), streamed as a zip.

An item is exported with the fine label its reviewer named (`labels` of the decision) or, when
none was named, with the model's label if the standing review supports it: the review confirms
the model (or names true categories that include the item's category). Items whose category a
reviewer rejected without naming the item have no known fine label and are counted in
`skipped.csv` instead. An item the reviewer named `background` (no item: a hand, a shadow, an
empty floor the model took for an item) is exported with that label and no category, so a
retrain teaches the model's "no item" output from it. `source_label` keeps the model's label,
so corrections can be counted. Crops of one event share a `group` (the event id) and one
split, drawn from the event id (80/10/10).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Event, Place, Review
from api.stats.queries import compounds_under
from api.storage import EvidenceStore
from vision.metadata import BACKGROUND
from vision.taxonomy import load_profile

COLUMNS = (
    "path",
    "split",
    "category",
    "fine_label",
    "source",
    "source_label",
    "width",
    "height",
    "sha1",
    "group",
    "licence",
    "origin",
)


@dataclass(frozen=True)
class Crop:
    row: dict[str, Any]
    jpeg: bytes


def split_of(event_hex: str) -> str:
    draw = int(hashlib.sha256(event_hex.encode()).hexdigest()[:8], 16) % 10
    return "test" if draw == 0 else "val" if draw == 1 else "train"


def reviewed_label(index: int, item: dict[str, Any], review: Review) -> str | None:
    """The item's fine label as the review stands, or None when it is not known."""
    named = review.item_labels or []
    if index < len(named) and named[index]:
        return named[index]
    return str(item["label"]) if supported(item, review) else None


def supported(item: dict[str, Any], review: Review) -> bool:
    if review.decision == "unclear":
        return False
    if review.true_categories:
        return item["category"] in review.true_categories
    return review.decision == "confirm"


def crops(event: Event, review: Review, image: np.ndarray) -> Iterator[Crop]:
    """The event's items cut from its evidence image, with their categories under the national
    profile (as in every manifest)."""
    national = load_profile("national")
    height, width = image.shape[:2]
    for index, item in enumerate(event.items):
        label = reviewed_label(index, item, review)
        if label is None:
            continue
        box = item.get("box")
        part = image
        if box:
            x0, y0 = min(box["x"], width - 1), min(box["y"], height - 1)
            part = image[y0 : min(height, y0 + box["h"]), x0 : min(width, x0 + box["w"])]
        ok, encoded = cv2.imencode(".jpg", part, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            continue
        data = encoded.tobytes()
        name = f"images/{label}/{event.event_id.hex}-{index}.jpg"
        yield Crop(
            row={
                "path": name,
                "split": split_of(event.event_id.hex),
                "category": "" if label == BACKGROUND else national.category_of(label).value,
                "fine_label": label,
                "source": "binwatch-review",
                "source_label": item["label"],
                "width": part.shape[1],
                "height": part.shape[0],
                "sha1": hashlib.sha1(data).hexdigest(),
                "group": event.event_id.hex,
                "licence": "binwatch field data",
                "origin": f"event {event.event_id} review {review.id}",
            },
            jpeg=data,
        )


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer that the zip writer fills and the response drains."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def reviewed_events(
    session: Session, place: Place | None, start: date, end: date
) -> Iterator[tuple[Event, Review]]:
    stmt = (
        select(Event, Review)
        .join(Review, Review.event_id == Event.id)
        .where(
            Review.superseded_by.is_(None),
            Review.withdrawn.is_(False),
            Event.evidence_stored,
            Event.day >= start,
            Event.day <= end,
        )
        .order_by(Event.id, Review.id)
    )
    if place is not None:
        stmt = stmt.where(Event.compound_id.in_(compounds_under(place)))
    seen: dict[int, tuple[Event, Review]] = {}
    for event, review in session.execute(stmt).all():
        seen[event.id] = (event, review)  # the newest standing review of each event
    yield from seen.values()


def stream_zip(
    session: Session, store: EvidenceStore, place: Place | None, start: date, end: date
) -> Iterator[bytes]:
    sink = _Sink()
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for event, review in reviewed_events(session, place, start, end):
            data = store.get(event.event_id)
            image = (
                None
                if data is None
                else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            )
            if image is None:
                skipped.append((str(event.event_id), "evidence image missing"))
                continue
            made = 0
            for crop in crops(event, review, image):
                archive.writestr(crop.row["path"], crop.jpeg)
                rows.append(crop.row)
                made += 1
                yield sink.drain()
            if made < len(event.items):
                skipped.append(
                    (
                        str(event.event_id),
                        f"{len(event.items) - made} item(s) without a reviewed label",
                    )
                )
        archive.writestr("manifest.csv", _csv(COLUMNS, [[r[c] for c in COLUMNS] for r in rows]))
        archive.writestr("skipped.csv", _csv(("event_id", "reason"), skipped))
    yield sink.drain()


def _csv(header: tuple[str, ...], rows: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
