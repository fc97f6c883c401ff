"""Simulated station video → agent → a real service on loopback → the service's statistics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.config import EdgeConfig
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.scoring import Found, score
from edge.simulate import card_signals
from edge.sources import FrameSource
from tests.conftest import shipped_version
from tests.edge.conftest import Service, agent_config
from vision.classifier import Classifier
from vision.shipped import shipped_model_path


@pytest.mark.parametrize(("frames", "flip"), [(1, False), (3, True)])
def test_pipeline_finds_the_dropoffs(
    station_video: Path, tmp_path: Path, frames: int, flip: bool
) -> None:
    """Also with each item read from three settled frames and their mirror images, averaged."""
    truth = json.loads((station_video / "truth.json").read_text())
    data = agent_config(tmp_path, "http://127.0.0.1:9", "t", station_video / "station.mp4", truth)
    data.setdefault("trigger", {})["combine_frames"] = frames
    data.setdefault("model", {})["flip"] = flip
    config = EdgeConfig.model_validate(data)
    model = shipped_model_path()
    assert model is not None
    pipeline = Pipeline(config, Classifier(model), Outbox(tmp_path / "box", 10**9))
    found = []
    for index, frame in FrameSource(config.source).frames():
        for decision in pipeline.process(frame):
            event = decision.event
            found.append(
                Found(
                    index,
                    event.bin_id,
                    event.verdict.value,
                    tuple(i.category.value for i in event.items),
                )
            )
    result = score(truth["dropoffs"], found)
    assert result.recall >= 11 / 12, result
    assert result.spurious <= 1, result
    assert result.verdict_accuracy >= 0.7, result
    assert result.items_agree >= 0.7 * result.items_true, result


def test_station_to_statistics(station_video: Path, tmp_path: Path, service: Service) -> None:
    truth = json.loads((station_video / "truth.json").read_text())
    config = EdgeConfig.model_validate(
        agent_config(
            tmp_path, service.url, service.device_token, station_video / "station.mp4", truth
        )
    )
    agent = Agent(config)
    assert agent.run(drain_timeout=60, replay=card_signals(station_video / "truth.json")) == 0
    box = Outbox(config.storage.dir, 10**9)
    stats = box.stats()
    assert stats.pending_events == 0 and stats.rejected_events == 0
    made = stats.sent_events
    assert abs(made - len(truth["dropoffs"])) <= 1
    today = datetime.now(UTC)
    period = {
        "place": "K1",
        "start": str((today - timedelta(days=1)).date()),
        "end": str((today + timedelta(days=1)).date()),
    }
    with service.admin() as admin:
        summary = admin.get("/api/v1/stats/summary", params=period).json()
        households = admin.get("/api/v1/stats/households", params=period).json()
        queue = admin.get("/api/v1/review/queue", params={"limit": 200}).json()
    totals = summary["totals"]
    assert totals["dropoffs"] == made  # every event the agent made arrived, once
    assert totals["identified"] == made  # every simulated drop-off swiped a card
    want = {"correct": 0, "contaminated": 0, "empty": 0}
    for d in truth["dropoffs"]:
        want[d["verdict"]] += 1
    assert abs(totals["contaminated"] - want["contaminated"]) <= 2, (totals, want)
    cards = {f"H{int(d['card'].split('-')[1])}" for d in truth["dropoffs"]}
    assert {h["household"] for h in households} <= cards
    assert len({h["household"] for h in households}) >= len(cards) - 1
    flagged = [i for i in queue if i["reason"] == "flagged"]
    assert len(flagged) == totals["contaminated"]
    assert all(i["event"]["evidence_url"] for i in flagged)  # the images followed the events


def test_feedback_metrics_and_signals(
    station_video: Path, tmp_path: Path, service: Service
) -> None:
    import sys
    import threading

    import httpx

    from tests.edge.conftest import free_port

    truth = json.loads((station_video / "truth.json").read_text())
    heard = tmp_path / "heard.jsonl"
    speaker = [
        sys.executable,
        "-c",
        f"import sys; open({str(heard)!r}, 'a').write(sys.stdin.read() + '\\n')",
    ]
    port = free_port()
    config = EdgeConfig.model_validate(
        agent_config(
            tmp_path,
            service.url,
            service.device_token,
            station_video / "station.mp4",
            truth,
            feedback={"command": speaker},
            metrics={"port": port},
            source={"fps": 60},
        )
    )
    agent = Agent(config)
    seen: dict[str, object] = {}

    def probe() -> None:
        while agent.health.frames < 50:
            threading.Event().wait(0.05)
        base = f"http://127.0.0.1:{port}"
        seen["metrics"] = httpx.get(f"{base}/metrics").text
        seen["health"] = httpx.get(f"{base}/health").json()
        seen["bad"] = httpx.post(f"{base}/signal", json={"bin": "nope", "lid": "open"}).status_code
        seen["card"] = httpx.post(f"{base}/signal", json={"card": "CARD-0001"}).status_code

    prober = threading.Thread(target=probe)
    prober.start()
    agent.run(drain_timeout=60)
    prober.join()
    assert "binwatch_edge_frames_total" in str(seen["metrics"])
    assert seen["health"]["model_version"] == shipped_version()  # type: ignore[index]
    assert (seen["bad"], seen["card"]) == (422, 200)
    lines = [json.loads(line) for line in heard.read_text().splitlines() if line.strip()]
    assert len(lines) >= len(truth["dropoffs"]) - 1
    assert {line["verdict"] for line in lines} <= {"correct", "contaminated", "uncertain", "empty"}
