"""Reviewed samples as a manifest zip, and the monthly report as CSV and XLSX."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from openpyxl import load_workbook

from tests.api.world import World, event, local
from tests.s3 import BOTH_STORES
from train.manifest import load_manifests


def evidence_event(bin_code: str, *items: str, verdict: str, colour: int) -> tuple[Any, bytes]:
    image = np.full((120, 160, 3), colour, np.uint8)
    photo = cv2.imencode(".jpg", image)[1].tobytes()
    evidence = {
        "sha256": hashlib.sha256(photo).hexdigest(),
        "bytes": len(photo),
        "width": 160,
        "height": 120,
        "reason": "flagged",
    }
    made = event(bin_code, *items, verdict=verdict, at=local(10, 9), evidence=evidence)
    boxed = [
        i.model_dump() | {"box": {"x": 10 + 70 * n, "y": 20, "w": 60, "h": 50}}
        for n, i in enumerate(made.items)
    ]
    return made.model_copy(update={"items": tuple(type(made.items[0])(**b) for b in boxed)}), photo


@BOTH_STORES
def test_reviewed_samples_zip(world: World, tmp_path: Path) -> None:
    confirmed, photo1 = evidence_event(
        "B1", "kitchen", "hazardous", verdict="contaminated", colour=90
    )
    overturned, photo2 = evidence_event(
        "B1", "kitchen", "other", verdict="contaminated", colour=150
    )
    named, photo3 = evidence_event("B1", "kitchen", "other", verdict="contaminated", colour=200)
    phantom, photo4 = evidence_event("B1", "kitchen", "other", verdict="contaminated", colour=40)
    world.send("cam-ST1", [confirmed, overturned, named, phantom])
    for made, photo in ((confirmed, photo1), (overturned, photo2), (named, photo3),
                        (phantom, photo4)):  # fmt: skip
        world.client.put(
            f"/api/v1/ingest/evidence/{made.event_id}",
            content=photo,
            headers={**world.auth("cam-ST1"), "Content-Type": "image/jpeg"},
        )
    items = {
        i["event"]["event_id"]: i["id"]
        for i in world.get("/api/v1/review/queue", "super_k1").json()
    }
    world.post(
        f"/api/v1/review/items/{items[str(confirmed.event_id)]}/decision",
        "super_k1",
        json={"decision": "confirm"},
    )
    world.post(
        f"/api/v1/review/items/{items[str(overturned.event_id)]}/decision",
        "super_k1",
        json={"decision": "overturn", "true_categories": ["kitchen"]},
    )
    offered = world.get("/api/v1/taxonomy/labels", "super_k1", profile="shanghai").json()
    assert offered[-1] == {"code": "background", "zh": "无物品", "en": "no item", "category": None}
    named_item = f"/api/v1/review/items/{items[str(named.event_id)]}/decision"
    for bad, why in (
        (["food_waste"], "1 item label(s) for an event with 2"),
        (["food_waste", "teapot"], "unknown item label(s): teapot"),
        (["food_waste", "battery"], "battery not among the true categories"),
    ):
        refused = world.post(
            named_item,
            "super_k1",
            json={"decision": "overturn", "true_categories": ["kitchen"], "labels": bad},
        )
        assert refused.status_code == 422 and why in refused.text, refused.text
    decided = world.post(
        named_item,
        "super_k1",
        json={"decision": "overturn", "true_categories": ["kitchen"], "labels": [None, "bone"]},
    )
    assert decided.status_code == 201 and decided.json()["labels"] == [None, "bone"]
    # the "other" item was a hand reaching in: no item, so the drop-off was right after all
    no_item = world.post(
        f"/api/v1/review/items/{items[str(phantom.event_id)]}/decision",
        "super_k1",
        json={"decision": "overturn", "true_categories": ["kitchen"],
              "labels": [None, "background"]},
    )  # fmt: skip
    assert no_item.status_code == 201 and no_item.json()["verdict"] == "correct"
    response = world.get(
        "/api/v1/export/reviewed.zip", "engineer", start="2026-11-01", end="2026-11-30"
    )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    labels = sorted((r["fine_label"], r["category"], r["group"][:8]) for r in rows)
    assert (
        labels
        == sorted(
            [
                ("food_waste", "kitchen", confirmed.event_id.hex[:8]),
                ("battery", "hazardous", confirmed.event_id.hex[:8]),
                ("food_waste", "kitchen", overturned.event_id.hex[:8]),
                ("food_waste", "kitchen", named.event_id.hex[:8]),
                ("bone", "kitchen", named.event_id.hex[:8]),  # named by the reviewer
                ("food_waste", "kitchen", phantom.event_id.hex[:8]),
                ("background", "", phantom.event_id.hex[:8]),  # no item: no category
            ]
        )
    )
    corrected = [r for r in rows if r["fine_label"] != r["source_label"]]
    assert sorted((r["source_label"], r["fine_label"]) for r in corrected) == [
        ("cigarette", "background"),
        ("cigarette", "bone"),
    ]
    crop = cv2.imdecode(np.frombuffer(archive.read(rows[0]["path"]), np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and crop.shape == (50, 60, 3)
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    archive.extractall(tmp_path)  # what binwatch retrain reads
    by_label = {s.label: s for s in load_manifests([tmp_path / "manifest.csv"]).samples}
    assert by_label["background"].category is None and by_label["bone"].category is not None
    skipped = archive.read("skipped.csv").decode().splitlines()
    assert len(skipped) == 2 and str(overturned.event_id) in skipped[1]  # the "other" item
    assert (
        world.get(
            "/api/v1/export/reviewed.zip", "super_k1", start="2026-11-01", end="2026-11-30"
        ).status_code
        == 403
    )


def test_monthly_report(world: World) -> None:
    world.send(
        "cam-ST1",
        [
            event("B1", "kitchen", household="H1", at=local(10, 9)),
            event(
                "B1", "kitchen", "other", verdict="contaminated", household="H2", at=local(10, 9)
            ),
        ],
    )
    world.send("cam-ST2", [event("B5", "kitchen", household="H6", at=local(11, 9))])
    response = world.get("/api/v1/reports/monthly", "office_s1", place="S1", month="2026-11")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["compound"] for r in rows] == ["K1", "K2"]
    k1 = rows[0]
    assert (k1["drop-offs"], k1["scored"], k1["accuracy"]) == ("2", "2", "0.5")
    assert k1["participation"] == "0.5"  # H1, H2 of four registered
    # no audits: no corrected number, anywhere
    withheld = "not enough audits (0)"
    assert [k1[f"corrected {c}"] for c in ("accuracy", "low 95%", "high 95%")] == [withheld] * 3
    xlsx = world.get(
        "/api/v1/reports/monthly", "office_s1", place="S1", month="2026-11", format="xlsx"
    )
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [c.value for c in sheet["A"]][1:] == ["K1", "K2"]
    assert [c.value for c in sheet["I"]][1:] == [withheld, withheld]
    assert (
        world.get("/api/v1/reports/monthly", "office_s1", place="S2", month="2026-11").status_code
        == 404
    )  # outside S1
    assert (
        world.get("/api/v1/reports/monthly", "office_s1", place="K1", month="2026-11").status_code
        == 422
    )  # not a district or street
    assert (
        world.get("/api/v1/reports/monthly", "admin", place="D1", month="2026-13").status_code
        == 422
    )
