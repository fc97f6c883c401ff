from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from vision.events import DropoffEvent, EventBatch

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def event(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "device_id": "cam-017",
        "station_id": "st-0042",
        "bin_id": "st-0042-k",
        "bin_category": "kitchen",
        "profile": "national",
        "household": "9f2c4e1a7b3d5f60",
        "captured_at": NOW.isoformat(),
        "model_version": "waste-1.0.0",
        "items": [
            {"label": "plastic", "category": "recyclable", "confidence": 0.93,
             "box": {"x": 10, "y": 20, "w": 64, "h": 48}},
        ],
        "verdict": "contaminated",
        "offending": ["recyclable"],
        "score": 0.07,
        "weight_kg": 0.4,
        "evidence": {"sha256": "a" * 64, "bytes": 48000, "width": 640, "height": 480,
                     "reason": "flagged"},
    }  # fmt: skip
    data.update(changes)
    return data


def test_a_full_event_validates_and_round_trips() -> None:
    parsed = DropoffEvent.model_validate(event())
    assert parsed.schema_version == 1
    again = DropoffEvent.model_validate_json(parsed.model_dump_json())
    assert again == parsed
    assert json.loads(parsed.model_dump_json())["items"][0]["box"] == {
        "x": 10, "y": 20, "w": 64, "h": 48
    }  # fmt: skip


def test_an_empty_dropoff_needs_no_items_and_no_score() -> None:
    parsed = DropoffEvent.model_validate(
        event(items=[], verdict="empty", offending=[], score=None, evidence=None, household=None)
    )
    assert parsed.items == ()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"captured_at": "2026-11-25T08:30:00"}, "timezone"),
        ({"household": "4102 1234 5678"}, "household"),  # a raw card number is refused
        ({"household": "ABCDEF0123456789"}, "household"),  # pseudonyms are lower-case hex
        ({"verdict": "dirty"}, "verdict"),
        ({"verdict": "correct"}, "offending categories go with verdict 'contaminated'"),
        ({"offending": []}, "offending categories go with verdict 'contaminated'"),
        ({"offending": ["recyclable", "recyclable"]}, "lists a category twice"),
        ({"items": []}, "verdict 'empty' goes with no items"),
        ({"items": [], "verdict": "empty", "offending": []}, "score is set for every verdict"),
        ({"score": 1.5}, "score"),
        ({"weight_kg": -1}, "weight_kg"),
        ({"evidence": {"sha256": "a" * 64, "bytes": 10, "width": 1, "height": 1,
                       "reason": "flagged", "content_type": "image/png"}}, "content_type"),
        ({"items": [{"label": "plastic", "category": "compost", "confidence": 0.9}]}, "category"),
        ({"items": [{"label": "plastic", "category": "recyclable", "confidence": 0.9,
                     "box": {"x": -1, "y": 0, "w": 5, "h": 5}}]}, "box.x"),
        ({"station_id": "st 42"}, "station_id"),
        ({"schema_version": 2}, "schema_version"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_invalid_events_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DropoffEvent.model_validate(event(**changes))


def test_batch_holds_one_devices_unique_events() -> None:
    first, second = event(), event()
    batch = EventBatch.model_validate(
        {"device_id": "cam-017", "sent_at": NOW.isoformat(), "events": [first, second]}
    )
    assert len(batch.events) == 2
    with pytest.raises(ValidationError, match="events of other devices in the batch: cam-999"):
        EventBatch.model_validate(
            {"device_id": "cam-017", "sent_at": NOW.isoformat(),
             "events": [first, event(device_id="cam-999")]}
        )  # fmt: skip
    with pytest.raises(ValidationError, match="appears twice"):
        EventBatch.model_validate(
            {"device_id": "cam-017", "sent_at": NOW.isoformat(), "events": [first, first]}
        )
    with pytest.raises(ValidationError, match="at least 1 item"):
        EventBatch.model_validate(
            {"device_id": "cam-017", "sent_at": NOW.isoformat(), "events": []}
        )
