"""One profile on the device, the station's: a model whose metadata names another profile still
sorts by the station's, in the verdicts, the items' categories, the feedback and the event's
`profile`, and so does the next model the updater swaps in. Shanghai and rural stations (both
rural passes, the `does_not_rot` group included), with a real tiny ONNX model whose labels
`bone` and `alkaline_battery` the profiles put in different bins."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.app import create_app
from api.db.migrate import upgrade
from api.devices import register_device
from api.places import import_csv
from api.schemas import UserCreate
from api.settings import Settings
from api.users import create_user
from edge.agent import Agent
from edge.config import EdgeConfig
from edge.feedback import message
from edge.outbox import Outbox
from edge.pipeline import Decision, Pipeline
from tests.edge.station import Scene, edge_config, write_model
from tests.live import PASSWORD, Service, free_port
from vision.classifier import Classifier
from vision.taxonomy import load_profile


@dataclass(frozen=True)
class Drop:
    bin: str
    label: str
    verdict: str
    category: str  # the item's category under the station's profile
    offending: tuple[str, ...] = ()


@dataclass(frozen=True)
class Station:
    code: str
    profile: str
    model_profile: str  # what the model's metadata names; the device must not sort by it
    bins: tuple[tuple[str, str], ...]
    names: dict[str, str]  # bin → its local name, as the feedback says it
    drops: tuple[Drop, ...]


STATIONS = [
    Station(
        "SH1",
        "shanghai",
        "national",
        (("SH1-W", "kitchen"), ("SH1-D", "other")),
        {"SH1-W": "湿垃圾", "SH1-D": "干垃圾"},
        (
            Drop("SH1-W", "bone", "contaminated", "other", ("other",)),
            Drop("SH1-D", "bone", "correct", "other"),
            Drop("SH1-D", "alkaline_battery", "correct", "other"),
            Drop("SH1-W", "food_waste", "correct", "kitchen"),
        ),
    ),
    Station(  # rural, first pass: the household's two bins, one of them a group
        "RU1",
        "rural",
        "shanghai",
        (("RU1-K", "kitchen"), ("RU1-N", "does_not_rot")),
        {"RU1-K": "会烂的", "RU1-N": "不会烂的"},
        (
            Drop("RU1-K", "bone", "correct", "kitchen"),
            Drop("RU1-N", "bone", "contaminated", "kitchen", ("kitchen",)),
            Drop("RU1-N", "alkaline_battery", "correct", "hazardous"),
            Drop("RU1-N", "paper", "correct", "recyclable"),
            Drop("RU1-N", "food_waste", "contaminated", "kitchen", ("kitchen",)),
        ),
    ),
    Station(  # rural, second pass: the village collector's bins
        "RU2",
        "rural",
        "shanghai",
        (("RU2-H", "hazardous"), ("RU2-O", "other"), ("RU2-K", "kitchen")),
        {"RU2-H": "有害垃圾", "RU2-O": "不好卖的", "RU2-K": "会烂的"},
        (
            Drop("RU2-H", "alkaline_battery", "correct", "hazardous"),
            Drop("RU2-O", "alkaline_battery", "contaminated", "hazardous", ("hazardous",)),
            Drop("RU2-K", "bone", "correct", "kitchen"),
            Drop("RU2-O", "bone", "contaminated", "kitchen", ("kitchen",)),
        ),
    ),
]


def ids(station: Station) -> str:
    return f"{station.profile}-{station.code}"


def test_the_stations_disagree_with_the_models_profile() -> None:
    """The premise: sorting by the model's own profile would get some of these wrong."""
    for station in STATIONS:
        model = load_profile(station.model_profile)
        assert any(model.category_of(d.label) != d.category for d in station.drops), station.code


def check_drops(scene: Scene, station: Station, model_version: str) -> list[Decision]:
    profile = load_profile(station.profile)
    made = []
    for drop in station.drops:
        decisions = scene.drop(drop.bin, drop.label)
        assert len(decisions) == 1, (drop, decisions)
        event = decisions[0].event
        assert (event.bin_id, event.profile, event.model_version) == (
            drop.bin,
            station.profile,
            model_version,
        )
        assert [(i.label, i.category.value) for i in event.items] == [(drop.label, drop.category)]
        assert event.verdict.value == drop.verdict, drop
        assert tuple(c.value for c in event.offending) == drop.offending, drop
        said = json.loads(json.dumps(message(event, profile)))  # what the speaker reads
        assert said["profile"] == station.profile
        assert said["bin_name"]["zh"] == station.names[drop.bin]
        assert said["verdict"] == drop.verdict
        made += decisions
    return made


@pytest.mark.parametrize("station", STATIONS, ids=ids)
def test_pipeline_sorts_by_the_station_profile(tmp_path: Path, station: Station) -> None:
    model = write_model(tmp_path / "tiny-1.onnx", "tiny-1", station.model_profile)
    own = Classifier(model)  # loaded with the model's own profile, as a caller might
    assert own.profile.name == station.model_profile
    config = EdgeConfig.model_validate(
        edge_config(tmp_path, station.profile, station.bins, model, station=station.code)
    )
    outbox = Outbox(tmp_path / "box", 10**9)
    pipeline = Pipeline(config, own, outbox)
    assert pipeline.classifier.profile == load_profile(station.profile)
    scene = Scene(pipeline)
    scene.idle(3)
    check_drops(scene, station, "tiny-1")
    stored = [p.event for p in outbox.pending(100)]
    assert {e.profile for e in stored} == {station.profile} and len(stored) == len(station.drops)
    outbox.close()


def station_service(tmp_path: Path, station: Station) -> Service:
    """A real service with this one station, its bins and a device, not started yet."""
    settings = Settings(data_dir=tmp_path / "service")
    app = create_app(settings)
    upgrade(app.state.engine)
    csv = (
        "kind,code,name,parent,category,profile,registered,cards\n"
        "district,D1,d,,,,,\nstreet,S1,s,D1,,,,\ncommunity,C1,c,S1,,,,\n"
        f"compound,K1,k,C1,,,,\nstation,{station.code},gate,K1,,{station.profile},,\n"
        + "".join(f"bin,{code},{code},{station.code},{cat},,,\n" for code, cat in station.bins)
    )
    with app.state.sessions() as session:
        result = import_csv(session, csv)
        assert not result.errors, result.errors
        create_user(session, UserCreate(username="root", password=PASSWORD, role="admin"))
        _, token = register_device(session, "cam-1", station.code)
        session.commit()
    app.state.engine.dispose()
    port = free_port()
    return Service(url=f"http://127.0.0.1:{port}", device_token=token, settings=settings, port=port)


@pytest.mark.parametrize("station", STATIONS, ids=ids)
def test_agent_keeps_the_station_profile_across_a_model_update(
    tmp_path: Path, station: Station
) -> None:
    first = write_model(tmp_path / "tiny-1.onnx", "tiny-1", station.model_profile)
    second = write_model(tmp_path / "tiny-2.onnx", "tiny-2", station.model_profile)
    heard = tmp_path / "heard.jsonl"
    speaker = [
        sys.executable,
        "-S",
        "-c",
        f"import sys; open({str(heard)!r}, 'a').write(sys.stdin.read() + '\\n')",
    ]
    service = station_service(tmp_path, station)
    service.start()
    try:
        raw = edge_config(
            tmp_path,
            station.profile,
            station.bins,
            first,
            station=station.code,
            service_url=service.url,
            token=service.device_token,
            feedback={"command": speaker},
        )
        raw["model"]["update"] = True  # the updater fetches the second model
        config = EdgeConfig.model_validate(raw)
        agent = Agent(config)
        try:
            assert agent.classifier.profile.name == station.profile
            assert agent.health_report()["profile"] == station.profile
            scene = Scene(agent.pipeline)
            scene.idle(3)
            made = check_drops(scene, station, "tiny-1")

            with service.admin() as admin:
                upload = admin.post(
                    "/api/v1/models",
                    content=second.read_bytes(),
                    headers={"Content-Type": "application/octet-stream"},
                )
                assert upload.status_code == 201, upload.text
                moved = admin.post(
                    "/api/v1/models/tiny-2/state",
                    json={"state": "canary", "stations": [station.code]},
                )
                assert moved.status_code == 200, moved.text
            new = agent.updater.check(hashlib.sha256(first.read_bytes()).hexdigest())
            assert new is not None and new.metadata.model_version == "tiny-2"
            # the same poll gave the service's audit share, which the config (0.0) does not
            assert agent.audit.source == "service"
            assert agent.audit.share == service.settings.audit_share > 0
            assert new.metadata.profile == station.model_profile
            assert new.profile == load_profile(station.profile)
            agent.pipeline.swap_model(new)
            scene.idle(1)  # swapped at the quiet moment
            made += check_drops(scene, station, "tiny-2")

            while agent.outbox.stats().pending_events:
                agent.uploader.send_once()
            stats = agent.outbox.stats()
            assert (stats.sent_events, stats.rejected_events) == (len(made), 0)  # the service
            # checks each event's profile against the station's
        finally:
            agent.close()
    finally:
        service.stop()
    deadline = time.monotonic() + 30  # the speaker runs beside the pipeline
    while time.monotonic() < deadline and len(heard_lines(heard)) < len(made):
        time.sleep(0.1)
    said = [json.loads(line) for line in heard_lines(heard)]
    assert len(said) == len(made)
    profile = load_profile(station.profile)
    for line, decision in zip(said, made, strict=True):
        event = decision.event
        assert line["event_id"] == str(event.event_id) and line["profile"] == station.profile
        assert line["bin_name"]["zh"] == station.names[event.bin_id]
        assert [i["name"]["zh"] for i in line["items"]] == [
            profile.names(i.category.value).zh for i in event.items
        ]


def heard_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line.strip()]
