"""On the device: crops the model reads as no item are dropped from events and counted, and a
model whose metadata schema this binwatch does not know is refused (the running one stays; at
start the previous one loads)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import onnx

from edge.agent import Agent
from edge.config import EdgeConfig
from edge.pipeline import Pipeline
from edge.updater import ModelStore, Updater, load_first
from tests.edge.station import LOOKS_LIKE, Scene, edge_config
from tests.tiny_model import BACKGROUND_RGB, build_tiny_model, tiny_metadata, write_tiny_model
from vision.classifier import ClassifierOptions
from vision.metadata import BACKGROUND, METADATA_KEY


def background_model(path: Path) -> Path:
    labels = (*LOOKS_LIKE, BACKGROUND)
    return write_tiny_model(
        path,
        labels=(*LOOKS_LIKE.values(), BACKGROUND),
        metadata=tiny_metadata(labels, model_version="bg-1"),
        sharpness=80.0,
    )


def test_background_crops_are_dropped_and_counted(tmp_path: Path) -> None:
    model = background_model(tmp_path / "bg.onnx")
    bins = (("B-K", "kitchen"), ("B-R", "recyclable"))
    config = EdgeConfig.model_validate(edge_config(tmp_path, "national", bins, model))
    agent = Agent(config)
    try:
        crops_of_no_item(agent.pipeline)
        assert agent.health_report()["background_crops"] == 1
        assert "binwatch_edge_background_crops_total 1.0" in agent.metrics_text().splitlines()
    finally:
        agent.close()


def crops_of_no_item(pipeline: Pipeline) -> None:
    scene = Scene(pipeline)
    scene.idle(3)

    # something that is no item (a floor-coloured patch: a bag settling, a shadow) is dropped
    scene.hand("B-K")
    x0 = 20
    frame = scene.frame.copy()
    r, g, b = BACKGROUND_RGB
    frame[40:80, x0 : x0 + 40] = (b, g, r)
    scene.frame = frame
    made = scene.idle(4)
    assert len(made) == 1
    event = made[0].event
    assert event.verdict.value == "empty" and event.items == ()
    assert made[0].crops == 1 and pipeline.background_crops == 1

    # a real item next to it is kept, and judged
    made = scene.drop("B-K", "alkaline_battery")
    assert len(made) == 1 and made[0].event.verdict.value == "contaminated"
    assert [i.label for i in made[0].event.items] == ["alkaline_battery"]
    assert pipeline.background_crops == 1


def unknown_schema_model(path: Path) -> Path:
    model = build_tiny_model(metadata=False)
    data = json.loads(tiny_metadata().to_json())
    data["schema_version"] = 3
    model.metadata_props.add(key=METADATA_KEY, value=json.dumps(data))
    onnx.save(model, str(path))
    return path


def test_updater_refuses_a_model_of_an_unknown_schema(tmp_path: Path) -> None:
    data = unknown_schema_model(tmp_path / "future.onnx").read_bytes()
    sha = hashlib.sha256(data).hexdigest()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/device/config":
            model = {"version": "future-3", "sha256": sha, "url": "/api/v1/device/model/file"}
            return httpx.Response(200, json={"audit_share": 0.05, "model": model})
        return httpx.Response(200, content=data)

    client = httpx.Client(base_url="http://service", transport=httpx.MockTransport(answer))
    store = ModelStore(tmp_path / "models")
    running = write_tiny_model(tmp_path / "running.onnx")
    store.promote(running)
    updater = Updater(client, store, ClassifierOptions())
    assert updater.check(running_sha="0" * 64) is None  # refused: the running model stays
    assert sha in updater.refused
    assert store.state()["current"] == str(running)
    assert updater.check(running_sha="0" * 64) is None  # and not fetched again


def test_start_falls_back_to_the_previous_model_past_an_unknown_schema(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    previous = write_tiny_model(store.directory / "previous.onnx")
    store.promote(previous)
    store.promote(unknown_schema_model(store.directory / "future.onnx"))
    chosen = load_first(store.candidates(None), ClassifierOptions())
    assert chosen.path == previous
