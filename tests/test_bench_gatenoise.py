"""`bench/gatenoise.py` draws the retrain's hold-out again by renaming events: photos of one event
stay together, nothing else in the manifest changes, and another share is held back."""

from __future__ import annotations

import csv
from pathlib import Path

from bench.gatenoise import renamed
from train.manifest import load_manifests
from train.retrain import held_back


def test_a_draw_renames_events_and_holds_back_others(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    fields = ["path", "split", "category", "fine_label", "source", "group", "origin"]
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for event in range(60):
            for item in range(2):  # two photos of one drop-off: one event
                writer.writerow({"path": f"images/e{event}-{item}.jpg", "split": "test",
                                 "category": "recyclable", "fine_label": "paper",
                                 "source": "binwatch-review", "group": f"e{event}",
                                 "origin": f"event {event}"})  # fmt: skip

    def rows(path: Path) -> list[dict[str, str]]:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    before, after = rows(manifest), rows(renamed(manifest, 3))
    assert [r["group"] for r in after] == [f"draw3-{r['group']}" for r in before]
    assert [{k: v for k, v in r.items() if k != "group"} for r in after] == [
        {k: v for k, v in r.items() if k != "group"} for r in before
    ]

    def kept(path: Path) -> set[int]:
        samples = load_manifests([path]).samples
        return {n for n, sample in enumerate(samples) if held_back(sample, 0.4)}

    first, third = kept(renamed(manifest, 1)), kept(renamed(manifest, 3))
    assert first != third and 0 < len(first) < 120 and 0 < len(third) < 120
    for held in (first, third):  # both photos of an event on the same side
        assert all((n in held) == (n ^ 1 in held) for n in range(120))
