"""Ingest: idempotent, all-or-nothing per event, only a device's own station and bins."""

from __future__ import annotations

from tests.api.world import World, event


def statuses(response: object) -> list[str]:
    return [r["status"] for r in response.json()["results"]]  # type: ignore[attr-defined]


def test_stored_once_and_acknowledged_again(world: World) -> None:
    first = [event("B1", "kitchen", household="H1"), event("B2", "recyclable")]
    response = world.send("cam-ST1", first)
    assert response.status_code == 200, response.text
    assert statuses(response) == ["stored", "stored"]
    again = world.send("cam-ST1", [first[1], event("B1", "kitchen")])
    assert statuses(again) == ["duplicate", "stored"]
    summary = world.get(
        "/api/v1/stats/summary", "admin", place="K1", start="2026-11-01", end="2026-11-30"
    ).json()
    assert summary["totals"]["dropoffs"] == 3 and summary["totals"]["identified"] == 1


def test_foreign_bins_and_stations_are_rejected_alone(world: World) -> None:
    good = event("B1", "kitchen")
    other_station = event("B5", "kitchen", device_id="cam-ST1")
    wrong_category = event("B1", "kitchen", bin_category="other")
    wrong_profile = event("B1", "kitchen", profile="shanghai")
    unknown_bin = event("B1", "kitchen", bin_id="B99")
    response = world.send(
        "cam-ST1", [good, other_station, wrong_category, wrong_profile, unknown_bin]
    )
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["stored"] + ["rejected"] * 4
    assert "not this device's station" in results[1]["error"]
    assert "is a 'kitchen' bin" in results[2]["error"]
    assert "profile" in results[3]["error"]
    assert "not a bin of station" in results[4]["error"]


def test_a_device_cannot_send_for_another_device(world: World) -> None:
    foreign = event("B5", "kitchen")  # cam-ST2's event
    response = world.send_as("cam-ST1", "cam-ST2", [foreign])
    assert response.status_code == 403


def test_bad_token_and_malformed_batch(world: World) -> None:
    body = {"device_id": "cam-ST1", "sent_at": "2026-11-10T00:00:00Z", "events": []}
    assert world.client.post("/api/v1/ingest/events", json=body).status_code == 401
    bad = {"Authorization": "Bearer bwd_not-a-token"}
    assert world.client.post("/api/v1/ingest/events", json=body, headers=bad).status_code == 401
    response = world.client.post("/api/v1/ingest/events", json=body, headers=world.auth("cam-ST1"))
    assert response.status_code == 422  # a batch has at least one event
    user = world.client.post("/api/v1/ingest/events", json=body, headers=world.auth("admin"))
    assert user.status_code == 401  # a user's session token is not a device token


def test_revoked_device_is_refused(world: World) -> None:
    assert world.post("/api/v1/devices/cam-ST1/revoke", "admin").status_code == 200
    assert world.send("cam-ST1", [event("B1", "kitchen")]).status_code == 401


def test_flagged_uncertain_and_audit_events_are_queued(world: World) -> None:
    """Every drop-off the device kept for audit is queued (the device drew the sample, at the
    share it records); the service draws the flag sample itself and records its share."""
    from sqlalchemy import select

    from api.db.models import Event, QueueItem
    from api.ingest import sampled

    evidence = {"sha256": "0" * 64, "bytes": 10, "width": 4, "height": 4, "reason": "audit"}
    audits = [event("B1", "kitchen", evidence=evidence, audit_share=0.05) for _ in range(3)]
    flags = [event("B1", "kitchen", "hazardous", verdict="contaminated") for _ in range(40)]
    unsure = event("B2", "recyclable", verdict="uncertain")
    response = world.send("cam-ST1", [*flags, unsure, *audits])
    assert set(statuses(response)) == {"stored"}
    with world.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        reasons = sorted(session.scalars(select(QueueItem.reason)))
        rows = {e.event_id: e for e in session.scalars(select(Event))}
    assert reasons == sorted(["flagged"] * 40 + ["uncertain"] + ["audit"] * 3)
    assert all(rows[e.event_id].audit and rows[e.event_id].sample_share == 0.05 for e in audits)
    share = world.settings.flag_sample_share
    expected = {e.event_id for e in flags if sampled(e.event_id, share)}
    assert 2 < len(expected) < 38
    assert {e.event_id for e in flags if rows[e.event_id].flag_sample} == expected
    assert {rows[i].sample_share for i in expected} == {share}
    assert not rows[unsure.event_id].flag_sample and rows[unsure.event_id].sample_share is None


def test_audit_share_only_with_audit_evidence() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="audit_share goes with evidence kept for audit"):
        event("B1", "kitchen", audit_share=0.05)
