"""Card swipes bind to one drop-off: the bin whose lid opens or where the next change starts,
that bin's next drop-off only, within `trigger.card_timeout_s`; the rest are counted unbound and
dropped. A stepped clock stands in for time; the pipeline, model and outbox are real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.cards import Cards
from edge.config import EdgeConfig, TriggerConfig
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.privacy import pseudonym
from tests.edge.station import Scene, edge_config, write_model
from vision.classifier import Classifier

BINS = (("A", "kitchen"), ("B", "recyclable"))
H1, H2 = "a1" * 16, "b2" * 16  # household pseudonyms, as edge.privacy makes them


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scene(tmp_path: Path, clock: Clock) -> Iterator[Scene]:
    model = write_model(tmp_path / "tiny.onnx", "tiny-1", "national")
    config = EdgeConfig.model_validate(edge_config(tmp_path, "national", BINS, model))
    outbox = Outbox(tmp_path / "box", 10**9)
    cards = Cards(config.trigger.card_timeout_s, clock=clock)
    made = Scene(Pipeline(config, Classifier(model), outbox, cards=cards))
    made.idle(3)
    yield made
    outbox.close()


def households(scene: Scene) -> list[tuple[str, str | None]]:
    return [(d.event.bin_id, d.event.household) for d in scene.decisions]


def test_swipe_then_dropoff_at_the_bin_binds_once(scene: Scene, clock: Clock) -> None:
    cards = scene.pipeline.cards
    scene.pipeline.card(H1)
    clock.now += 30
    scene.drop("A", "food_waste")
    scene.drop("A", "food_waste")  # the next drop-off, no new swipe: anonymous
    assert households(scene) == [("A", H1), ("A", None)]
    assert (cards.counts.swipes, cards.counts.bound, cards.counts.unbound) == (1, 1, 0)


def test_a_started_dropoff_keeps_its_swipe_past_the_timeout(scene: Scene, clock: Clock) -> None:
    scene.pipeline.card(H1)
    clock.now += 50
    scene.hand("A")  # bound here, at 50 s
    clock.now += 200  # a slow drop-off
    scene.place("A", "food_waste")
    scene.idle(4)
    assert households(scene) == [("A", H1)]
    assert scene.pipeline.cards.counts.unbound == 0


def test_swipe_expires_without_a_dropoff(scene: Scene, clock: Clock) -> None:
    scene.pipeline.card(H1)
    clock.now += 60.5
    scene.drop("B", "paper")
    assert households(scene) == [("B", None)]
    counts = scene.pipeline.cards.counts
    assert (counts.swipes, counts.bound, counts.unbound) == (1, 0, 1)


def test_lid_opens_at_b_so_a_dropoff_seen_at_a_stays_anonymous(scene: Scene) -> None:
    pipeline = scene.pipeline
    pipeline.card(H1)
    pipeline.lid("B", True)
    scene.drop("A", "food_waste")  # a change at A first: not this household's
    assert households(scene) == [("A", None)]
    scene.hand("B")
    scene.place("B", "paper")
    pipeline.lid("B", False)
    scene.idle(4)
    assert households(scene) == [("A", None), ("B", H1)]
    assert pipeline.cards.counts.unbound == 0


def test_a_second_swipe_replaces_the_first(scene: Scene) -> None:
    scene.pipeline.card(H1)
    scene.pipeline.card(H2)
    scene.drop("A", "food_waste")
    assert households(scene) == [("A", H2)]
    counts = scene.pipeline.cards.counts
    assert (counts.swipes, counts.bound, counts.unbound) == (2, 1, 1)


def test_a_swipe_during_a_dropoff_waits_for_the_next_one(scene: Scene) -> None:
    scene.pipeline.card(H1)
    scene.hand("A")  # H1's drop-off starts at A
    scene.pipeline.card(H2)  # not a replacement: H1 is bound already
    scene.place("A", "food_waste")
    scene.idle(4)
    scene.drop("B", "paper")
    assert households(scene) == [("A", H1), ("B", H2)]
    assert scene.pipeline.cards.counts.unbound == 0


def test_a_flicker_gives_the_swipe_back(scene: Scene, clock: Clock) -> None:
    scene.pipeline.card(H1)
    scene.hand("A", frames=1)  # a flicker at A: activity, then still, no drop-off
    scene.idle(4)
    assert not scene.pipeline.cards.bound_to("A") and scene.pipeline.cards.pending
    scene.drop("B", "paper")
    assert households(scene) == [("B", H1)]
    scene.pipeline.card(H2)
    scene.hand("A", frames=1)
    scene.idle(4)
    clock.now += 61  # expires from its swipe time, flicker or not
    scene.idle(1)
    assert scene.pipeline.cards.counts.unbound == 1 and not scene.pipeline.cards.pending


def test_unbound_swipes_show_in_health_and_metrics(tmp_path: Path, clock: Clock) -> None:
    model = write_model(tmp_path / "tiny.onnx", "tiny-1", "national")
    config = EdgeConfig.model_validate(
        edge_config(tmp_path, "national", BINS, model, trigger={"card_timeout_s": 5})
    )
    agent = Agent(config)
    try:
        agent.pipeline.cards.clock = clock
        agent.signal({"card": "CARD-0001"})
        agent.signal({"card": "CARD-0002"})  # replaces the first
        clock.now += 5
        scene = Scene(agent.pipeline)
        scene.idle(3)
        scene.drop("A", "food_waste")
        assert households(scene) == [("A", None)]
        assert agent.health_report()["cards"] == {"swipes": 2, "bound": 0, "unbound": 2}
        assert "binwatch_edge_cards_unbound_total 2.0" in agent.metrics_text().splitlines()
        agent.signal({"card": "CARD-0003"})
        scene.drop("B", "paper")
        assert households(scene)[-1] == ("B", pseudonym("CARD-0003", config.street_key()))
        assert agent.health_report()["cards"] == {"swipes": 3, "bound": 1, "unbound": 2}
    finally:
        agent.close()


def test_card_timeout_is_optional_with_a_default(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    old = edge_config(tmp_path, "national", BINS, model)
    old.pop("trigger")
    assert EdgeConfig.model_validate(old).trigger.card_timeout_s == 60.0
    assert "next drop-off" in (TriggerConfig.model_fields["card_timeout_s"].description or "")
    with pytest.raises(ValueError, match="card_timeout_s"):
        EdgeConfig.model_validate({**old, "trigger": {"card_timeout_s": 0}})
