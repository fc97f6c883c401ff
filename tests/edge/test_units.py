"""Config errors with their paths, change detection, the trigger, the outbox's storage rules,
pseudonyms and backoff."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.outbox import Outbox
from edge.privacy import blur_faces, pseudonym
from edge.trigger import State, Trigger, TriggerParams
from edge.uploader import backoff
from vision.change import changed_regions, motion, roi_mask
from vision.events import DropoffEvent

GOOD = {
    "device_id": "cam-1",
    "station_id": "ST1",
    "pseudonym_key": "k" * 16,
    "service": {"url": "http://127.0.0.1:8000", "token": "bwd_x"},
    "bins": [{"id": "B1", "category": "kitchen", "roi": [[0, 0], [100, 0], [100, 100]]}],
    "source": {"kind": "stream", "uri": "rtsp://127.0.0.1:8554/cam"},
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binwatch", "edge", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_config_prints_each_error_with_its_path(tmp_path: Path) -> None:
    assert check(write(tmp_path, GOOD)).returncode == 0
    bad = {
        **GOOD,
        "bins": [{"id": "B1", "category": "kitchen", "roi": [[0, 0]]}],
        "service": {"url": "http://x", "token": "a", "token_file": "b"},
        "trigger": {"motion_on": 0.01, "motion_off": 0.02},
        "colour": "blue",
    }
    result = check(write(tmp_path, bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("bins.0.roi" in line for line in lines)
    assert any(
        "service" in line and "exactly one of token and token_file" in line for line in lines
    )
    assert any("trigger" in line and "motion_off must be below motion_on" in line for line in lines)
    assert any("colour" in line and "Extra inputs are not permitted" in line for line in lines)
    wrong_bin = {
        **GOOD,
        "bins": [{"id": "B1", "category": "compost", "roi": [[0, 0], [9, 0], [9, 9]]}],
    }
    assert "unknown bin 'compost'" in check(write(tmp_path, wrong_bin)).stdout


def scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(90, 4, (200, 300, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("change", "boxes"),
    [
        ("nothing", 0),
        ("noise", 0),
        ("brighter", 0),  # a light switched on
        ("one item", 1),
        ("two items", 2),
        ("outside the region", 0),
        ("speck", 0),  # smaller than min_area
    ],
)
def test_changed_regions(change: str, boxes: int) -> None:
    before = scene()
    after = before.copy()
    if change == "noise":
        after = np.clip(after + np.random.default_rng(1).normal(0, 4, after.shape), 0, 255).astype(
            np.uint8
        )
    elif change == "brighter":
        after = np.clip(after.astype(np.float32) * 1.25, 0, 255).astype(np.uint8)
    elif change in ("one item", "two items"):
        after[40:80, 50:100] = (20, 200, 40)
        if change == "two items":
            after[120:170, 180:230] = (230, 230, 230)
    elif change == "outside the region":
        after[10:40, 250:290] = (20, 200, 40)
    elif change == "speck":
        after[100:102, 100:102] = 255
    mask = roi_mask((200, 300), [(0, 0), (240, 0), (240, 200), (0, 200)])
    found = changed_regions(before, after, mask)
    assert len(found) == boxes
    if change == "one item":
        box = found[0]
        assert box.x <= 50 and box.y <= 40 and box.x + box.w >= 100 and box.y + box.h >= 80


def test_motion_ignores_a_light_switch_but_not_a_hand() -> None:
    mask = roi_mask((200, 300), [(0, 0), (300, 0), (300, 200), (0, 200)])
    grey = scene()[..., 0]
    lit = np.clip(grey.astype(np.float32) * 1.3, 0, 255).astype(np.uint8)
    hand = grey.copy()
    hand[50:150, 100:180] = 200
    assert motion(grey, lit, mask) < 0.01
    assert motion(grey, hand, mask) > 0.1


def run_trigger(moves: list[float], **params: int) -> list[int]:
    trigger = Trigger(TriggerParams(settle_frames=3, **params))
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(len(moves) + 1)]
    decided = []
    trigger.step(frames[0], 0.0, 0)
    for i, moved in enumerate(moves, start=1):
        if trigger.step(frames[i], moved, i) is not None:
            decided.append(i)
    return decided


@pytest.mark.parametrize(
    ("moves", "decided"),
    [
        ([0.0] * 10, []),  # nothing happens
        ([0.0, 0.3, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0], [7]),  # a hand, then three still frames
        ([0.0, 0.3, 0.0, 0.0, 0.0, 0.0], []),  # one frame of motion: a flicker
        ([0.3, 0.3, 0.3, 0.0, 0.05, 0.0, 0.0, 0.0, 0.0], [8]),  # moves again while settling
        ([0.3] * 12, [11]),  # never settles: decided at max_activity_frames
    ],
)
def test_trigger_sequences(moves: list[float], decided: list[int]) -> None:
    assert run_trigger(moves, max_activity_frames=10) == decided


def test_trigger_keeps_the_frame_before_the_activity() -> None:
    trigger = Trigger(TriggerParams(settle_frames=2))
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    trigger.step(frames[0], 0.0, 0)
    trigger.step(frames[1], 0.0, 1)
    moves = [0.3, 0.3, 0.3, 0.0, 0.0]
    result = None
    for i, moved in enumerate(moves, start=2):
        result = trigger.step(frames[i], moved, i) or result
    assert result is not None and result.before is frames[0] and result.after is frames[6]
    assert trigger.state is State.IDLE and trigger.reference is frames[6]


def test_signal_mode_follows_the_lid() -> None:
    trigger = Trigger(TriggerParams(settle_frames=2))
    frame = np.zeros((4, 4, 3), np.uint8)
    trigger.step(frame, 0.0, 0, use_motion=False)
    trigger.lid(True, 1)
    assert trigger.state is State.ACTIVITY
    assert trigger.step(frame, 0.0, 2, use_motion=False) is None  # lid still open
    trigger.lid(False, 3)
    assert trigger.step(frame, 0.0, 4, use_motion=False) is None
    made = trigger.step(frame, 0.0, 5, use_motion=False)
    assert made is not None and made.signalled


def event() -> DropoffEvent:
    return DropoffEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "device_id": "cam-1",
            "station_id": "ST1",
            "bin_id": "B1",
            "bin_category": "kitchen",
            "profile": "national",
            "captured_at": datetime.now(UTC).isoformat(),
            "model_version": "x-1",
            "items": [{"label": "food_waste", "category": "kitchen", "confidence": 0.9}],
            "verdict": "correct",
            "score": 0.9,
        }
    )


def test_outbox_drops_oldest_evidence_never_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path, max_evidence_bytes=25_000)
    made = [event() for _ in range(5)]
    for e in made:
        box.add(e, bytes(10_000))
    stats = box.stats()
    assert stats.pending_events == 5 and stats.pending_evidence == 2
    assert stats.dropped_evidence == 3 and stats.evidence_bytes == 20_000
    kept = {p.stem for p in (tmp_path / "evidence").glob("*.jpg")}
    assert kept == {str(e.event_id) for e in made[3:]}  # the oldest went first
    assert [p.event.event_id for p in box.pending(10)] == [e.event_id for e in made]
    box.mark({made[0].event_id: ("stored", None), made[1].event_id: ("rejected", "bad bin")})
    stats = box.stats()
    assert (stats.pending_events, stats.sent_events, stats.rejected_events) == (3, 1, 1)
    box.close()
    reopened = Outbox(tmp_path, max_evidence_bytes=25_000)
    assert reopened.stats().pending_events == 3


def test_pseudonym_is_keyed_and_stable() -> None:
    a = pseudonym("CARD-0001", "k" * 16)
    assert a == pseudonym(" CARD-0001 ", "k" * 16) and len(a) == 32
    assert a != pseudonym("CARD-0001", "j" * 16) and "CARD" not in a


def test_no_faces_no_change() -> None:
    image = scene()
    out, faces = blur_faces(image)
    assert faces == 0 and np.array_equal(out, image)


def test_backoff_grows_with_jitter_and_a_ceiling() -> None:
    rng = random.Random(0)
    waits = [backoff(n, 1.0, 60.0, rng) for n in range(12)]
    assert all(0.5 * min(60, 2**n) <= w <= min(60, 2**n) for n, w in enumerate(waits))
    assert max(waits) <= 60


def test_demo_items_from_a_folder_or_drawn(tmp_path: Path) -> None:
    import cv2

    from edge.simulate import drawn_items, folder_items, simulate

    for label in ("battery", "food_waste", "not_a_label"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "photos" / label / "a.jpg"), np.full((60, 40, 3), 90, np.uint8))
    rows = folder_items(tmp_path / "photos")
    assert sorted((r["fine_label"], r["category"]) for r in rows) == [
        ("battery", "hazardous"),
        ("food_waste", "kitchen"),
    ]  # the folder that names no label is skipped
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        folder_items(tmp_path / "empty")
    drawn = drawn_items()
    assert {r["category"] for r in drawn} == {"recyclable", "hazardous", "kitchen", "other"}
    truth = simulate(drawn, tmp_path / "v.mp4", tmp_path / "t.json", dropoffs=3, station="ST9")
    assert {b["id"] for b in truth["bins"]} == {"ST9-K", "ST9-R"}
    assert (tmp_path / "v.mp4").stat().st_size > 0 and len(truth["dropoffs"]) == 3


@pytest.mark.parametrize(("combine", "expected"), [(1, [9]), (3, [7, 8, 9]), (6, [6, 7, 8, 9])])
def test_the_decision_carries_the_last_still_frames(combine: int, expected: list[int]) -> None:
    """A hand in frames 1-3; frame 4 is still, frame 5 stirs (the count starts again), 6-9 are
    still: the decision at frame 9 carries the still frames since the stir."""
    trigger = Trigger(TriggerParams(settle_frames=4, combine_frames=combine))
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    trigger.step(frames[0], 0.0, 0)
    made = None
    for i, moved in enumerate([0.3, 0.3, 0.3, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0], start=1):
        made = trigger.step(frames[i], moved, i) or made
    assert made is not None and made.after is frames[9]
    assert [int(f[0, 0, 0]) for f in made.settled] == expected
    assert made.settled[-1] is made.after


def test_the_deck_shows_no_photo_twice_until_its_pile_is_dealt() -> None:
    """A station's videos draw from its share of the photos without repeats, continuing from
    one video to the next (`state()`), and reshuffle a pile only once it is dealt out."""
    from edge.simulate import Deck

    rows = [
        {"category": "kitchen", "path": f"k{i}.jpg", "fine_label": "food_waste"} for i in range(7)
    ]
    deck = Deck(rows, seed=3)
    first = [deck.deal("kitchen")["path"] for _ in range(4)]
    later = Deck(rows, seed=3, dealt=deck.state())  # the next video
    rest = [later.deal("kitchen")["path"] for _ in range(3)]
    assert sorted(first + rest) == sorted(r["path"] for r in rows)
    again = [later.deal("kitchen")["path"] for _ in range(7)]
    assert sorted(again) == sorted(r["path"] for r in rows)


def test_careless_households_sort_worse() -> None:
    """Who drops what (the video aside): the careless few put wrong items in far more often."""
    import random

    from edge.simulate import BINS, Deck, _dropoff, _Habits, drawn_items

    careless = frozenset(f"CARD-{n:04d}" for n in range(1, 11))
    habits = _Habits(wrong_share=0.05, careless=careless)
    rng, deck = random.Random(5), Deck(drawn_items(), seed=5)
    taken: dict[str, list[tuple[int, int, int, int]]] = {b[0]: [] for b in BINS}
    made = []
    for n in range(400):
        record, _, _ = _dropoff(n, BINS, deck, habits, taken, rng, 0.0, True)
        made.append(record)
        for placed in taken.values():
            placed.clear()
    rates = {}
    for group in (True, False):
        mine = [d for d in made if (d.card in careless) == group]
        rates[group] = sum(d.verdict == "contaminated" for d in mine) / len(mine)
    assert rates[True] > 0.5 > 0.2 > rates[False]
