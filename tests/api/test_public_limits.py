"""Public routes that cannot be farmed: reports limited per client address and per place, only
stations and compounds take reports (an unknown code and a district look the same), report photos
face-blurred and under retention, appeal codes not guessable in bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
from skimage import data as samples
from sqlalchemy import select

from api.db.models import Report
from api.retention import purge_evidence
from api.storage import evidence_for
from tests.api.world import World
from tests.s3 import BOTH_STORES
from vision.faces import _face_detector

REPORTS = "/api/v1/public/reports"


def report(world: World, place: str, **headers: str) -> int:
    return int(
        world.client.post(REPORTS, data={"place": place, "text": "x"}, headers=headers).status_code
    )


def test_reports_are_limited_per_client_address(world: World) -> None:
    limit = world.settings.public_reports_per_client
    assert [report(world, "K1") for _ in range(limit)] == [201] * limit
    refused = world.client.post(REPORTS, data={"place": "K1", "text": "x"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # a forwarded-for header from an untrusted peer changes nothing
    assert report(world, "ST1", **{"X-Forwarded-For": "198.51.100.1"}) == 429


def test_reports_are_limited_per_place(world: World) -> None:
    world.settings.public_reports_per_client = 1000
    world.settings.public_reports_per_place = 3
    assert [report(world, "ST1") for _ in range(3)] == [201] * 3
    assert report(world, "ST1") == 429
    assert report(world, "ST2") == 201


def test_only_stations_and_compounds_take_reports_and_others_look_unknown(world: World) -> None:
    answers = {
        code: world.client.post(REPORTS, data={"place": code, "text": "x"})
        for code in ("D1", "S1", "NOPE", "C1")
    }
    assert {a.status_code for a in answers.values()} == {404}
    assert len({a.content for a in answers.values()}) == 1
    assert report(world, "K1") == 201 and report(world, "ST1") == 201


def test_guessing_appeal_codes_is_throttled(world: World) -> None:
    limit = world.settings.public_lookups_per_client
    codes = [f"{i:012x}" for i in range(limit)]
    assert {world.client.get(f"/api/v1/public/appeals/{c}").status_code for c in codes} == {404}
    assert world.client.get("/api/v1/public/appeals/ffffffffffff").status_code == 429
    posted = world.client.post("/api/v1/public/appeals", json={"code": "ffff-ffff-ffff"})
    assert posted.status_code == 429


@BOTH_STORES
def test_a_report_photo_is_kept_face_blurred_and_expires(world: World) -> None:
    portrait = np.ascontiguousarray(samples.astronaut()[:, :, ::-1])  # type: ignore[no-untyped-call]
    jpeg = cv2.imencode(".jpg", portrait, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    sent = world.client.post(
        REPORTS, data={"place": "ST1"}, files={"image": ("me.jpg", jpeg, "image/jpeg")}
    )
    assert sent.status_code == 201, sent.text
    report_id = sent.json()["id"]
    kept = world.get(f"/api/v1/reports/{report_id}/image", "admin")
    assert kept.status_code == 200
    image = cv2.imdecode(np.frombuffer(kept.content, np.uint8), cv2.IMREAD_COLOR)
    detector = _face_detector()
    assert detector is not None and image is not None
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert len(detector.detectMultiScale(grey, 1.1, 5, minSize=(24, 24))) == 0
    later = datetime.now(UTC) + timedelta(days=world.settings.retention_days + 1)
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert purge_evidence(session, world.settings, later) >= 1
        session.commit()
        row = session.scalar(select(Report).where(Report.id == report_id))
        assert row is not None and row.image_sha256 is None
    assert evidence_for(world.settings).get_report(report_id) is None
    assert not (world.settings.data_dir / "evidence" / "reports" / f"{report_id}.jpg").exists()
    assert world.get(f"/api/v1/reports/{report_id}/image", "admin").status_code == 404


def test_a_retried_report_is_stored_once_and_has_a_reference(world: World) -> None:
    """The residents' page sends the same key on every try: an answer lost on a weak network and
    the report sent again leaves one report, one queue item, the same reference."""
    key = "0123456789abcdef0123456789abcdef"
    first = world.client.post(
        REPORTS, data={"place": "ST1", "text": "peel in recyclable", "key": key}
    )
    again = world.client.post(
        REPORTS, data={"place": "ST1", "text": "peel in recyclable", "key": key}
    )
    assert first.status_code == 201 and again.status_code == 201
    assert first.json() == again.json()
    assert first.json()["code"] == "0123-4567-89ab"
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert len(session.scalars(select(Report).where(Report.key == key)).all()) == 1
    bad = world.client.post(REPORTS, data={"place": "ST1", "text": "x", "key": "not-hex"})
    assert bad.status_code == 422
    plain = world.client.post(REPORTS, data={"place": "ST1", "text": "x"}).json()
    assert len(plain["code"]) == 14 and plain["code"] != first.json()["code"]


def test_the_residents_page_may_name_the_place(world: World) -> None:
    named = world.client.get("/api/v1/public/places/ST1")
    assert named.status_code == 200
    assert named.json()["kind"] == "station" and named.json()["retention_days"] >= 30
    assert world.client.get("/api/v1/public/places/S1").status_code == 404  # a street: no
    assert world.client.get("/api/v1/public/places/NOPE").status_code == 404
