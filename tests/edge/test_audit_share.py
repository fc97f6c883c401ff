"""The device samples audits at exactly the share the service gives it, records that share on
each audit event, and keeps the last share it was given across a restart while offline."""

from __future__ import annotations

from pathlib import Path

from edge.audit import AuditShare
from edge.config import EdgeConfig
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from tests.edge.station import Scene, edge_config, write_model
from vision.classifier import Classifier
from vision.events import EvidenceReason

BINS = (("A", "kitchen"), ("B", "recyclable"))


def test_share_from_config_then_service_then_kept(tmp_path: Path) -> None:
    state = tmp_path / "service_config.json"
    share = AuditShare(0.05, state)
    assert (share.share, share.source) == (0.05, "config")
    share.set(0.2)
    assert (share.share, share.source) == (0.2, "service")
    share.set(0.0)  # not a share a service may give: ignored
    share.set(1.5)
    assert share.share == 0.2
    again = AuditShare(0.05, state)  # a restart, offline
    assert (again.share, again.source) == (0.2, "service (kept)")


def test_a_broken_state_file_falls_back_to_the_config(tmp_path: Path) -> None:
    state = tmp_path / "service_config.json"
    state.write_text("{not json")
    assert AuditShare(0.05, state).share == 0.05
    state.write_text('{"audit_share": "lots"}')
    assert AuditShare(0.05, state).share == 0.05


def test_pipeline_samples_at_the_share_and_records_it(tmp_path: Path) -> None:
    model = write_model(tmp_path / "tiny.onnx", "tiny-1", "national")
    config = EdgeConfig.model_validate(edge_config(tmp_path, "national", BINS, model))
    assert config.evidence.audit_share == 0.0  # the config alone would never audit
    outbox = Outbox(tmp_path / "box", 10**9)
    audit = AuditShare(config.evidence.audit_share)
    try:
        scene = Scene(Pipeline(config, Classifier(model), outbox, audit=audit))
        scene.idle(3)
        scene.drop("A", "food_waste")
        audit.set(1.0)  # the service asks for every correct drop-off
        scene.drop("A", "food_waste")
        scene.drop("B", "food_waste")  # contaminated: flagged evidence, no share on it
        events = [d.event for d in scene.decisions]
        assert [e.verdict.value for e in events] == ["correct", "correct", "contaminated"]
        first, second, third = events
        assert first.evidence is None and first.audit_share is None
        assert second.evidence is not None and second.evidence.reason is EvidenceReason.AUDIT
        assert second.audit_share == 1.0
        assert third.evidence is not None and third.evidence.reason is EvidenceReason.FLAGGED
        assert third.audit_share is None
        assert outbox.stats().pending_events == 3
    finally:
        outbox.close()
