"""bench.surfaces: its own drawn empty floors, scored by day and at night."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.surfaces import FAMILIES, HEIGHT, SIZES, WIDTH, main
from tests.tiny_model import PROTOTYPES, solid_image, write_tiny_model
from tests.train.test_manifest import write_manifest
from vision.metadata import BACKGROUND


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_draws_a_plain_photo(family: str) -> None:
    first = FAMILIES[family](np.random.default_rng(4))
    assert first.shape == (HEIGHT, WIDTH, 3) and first.dtype == np.uint8
    assert 1.0 < first.std() < 60
    assert np.array_equal(first, FAMILIES[family](np.random.default_rng(4)))


def test_the_share_answered_no_item_per_family(tmp_path: Path) -> None:
    """The tiny model calls mid-grey `background`: the night check (grey, contrast 0.7,
    brightness +30) pulls every photo towards it, so more are answered "no item" at night;
    a model without the output answers none."""
    with_bg = write_tiny_model(tmp_path / "bg.onnx", labels=(*PROTOTYPES, BACKGROUND))
    without = write_tiny_model(tmp_path / "plain.onnx")
    out = tmp_path / "surfaces.json"
    assert main(["--model", str(with_bg), "--peer", str(without), "--per-family", "4",
                 "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    first, peer = result["models"]
    assert set(first["families"]) == set(FAMILIES)
    assert all(row["photos"] == 4 for row in first["families"].values())
    assert first["day"]["photos"] == 4 * len(FAMILIES)
    assert first["night"]["empty"] > first["day"]["empty"]
    assert peer["day"]["empty"] == peer["night"]["empty"] == 0.0
    for light in ("day", "night"):  # classify's reading only adds "no item" to the model's
        assert 0 <= first[light]["empty_whole"] <= first[light]["empty"]
        assert all(row[light]["empty_whole"] <= row[light]["empty"]
                   for row in first["families"].values())  # fmt: skip
    called = sum(sum(row["day"]["called"].values()) for row in peer["families"].values())
    assert called == 4 * len(FAMILIES)
    assert first["seconds"] > 0 and peer["seconds"] > 0
    assert first["version"] == "tiny-1" and peer["version"] == "tiny-1"


def test_real_items_on_every_family(tmp_path: Path) -> None:
    """With a manifest, each test photo is placed on a photo of every family and scored: a
    model without the output drops none of them as "no item"."""
    rows = []
    for n, label in enumerate(("battery", "glass", "food_waste")):
        image = np.full((60, 60, 3), 255, np.uint8)
        image[15:45, 15:45] = solid_image(label, (30, 30))
        cv2.imwrite(str(tmp_path / f"{label}.jpg"), image)
        category = {"battery": "hazardous", "glass": "recyclable", "food_waste": "kitchen"}
        rows.append({"path": f"{label}.jpg", "split": "test", "category": category[label],
                     "fine_label": label, "source": "field", "group": f"g{n}"})  # fmt: skip
    rows.append(dict(rows[0], split="train", group="t"))  # not a test photo: never placed
    manifest = write_manifest(tmp_path / "set", rows)
    for row in rows:
        (tmp_path / "set" / row["path"]).write_bytes((tmp_path / row["path"]).read_bytes())
    model = write_tiny_model(tmp_path / "plain.onnx")
    out = tmp_path / "surfaces.json"
    assert main(["--model", str(model), "--manifest", str(manifest), "--per-family", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["items"] == 3
    items = result["models"][0]["items"]
    assert set(items) == {*FAMILIES, "all"}
    assert all(items[name]["images"] == 3 for name in FAMILIES)
    assert items["all"]["images"] == 3 * len(FAMILIES)
    assert all(row["dropped_as_empty"] == 0.0 for row in items.values())
    for key in ("items_by_size", "items_by_size_night"):
        small = result["models"][0][key]
        assert set(small) == {f"{size:.2f}" for size in SIZES}
        assert all(row["images"] == 3 and set(row["whole"]) >= {"macro_recall", "accuracy"}
                   and 0 <= row["zoomed"] <= 1 and row["found_close_up"] == 0.0
                   for row in small.values())  # fmt: skip
    assert all(row["dropped_as_empty"] == 0.0
               for row in result["models"][0]["items_by_size"].values())  # fmt: skip
    # read round where each item was placed, the tiny model (a crop's mean colour) reads each
    # at least as well as whole
    for row in result["models"][0]["items_by_size"].values():
        assert row["at_true_box"]["images"] == 3
        assert row["at_true_box"]["accuracy"] >= row["whole"]["accuracy"]


@pytest.mark.parametrize("option", ["--per-family", "--items"])
def test_an_empty_set_is_refused_with_a_clear_error(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([option, "0"])
    assert stop.value.code == 2 and "must be 1 or more" in capsys.readouterr().err


def test_the_peer_read_with_the_ground_alone_is_labelled_and_empties_agree(
    tmp_path: Path,
) -> None:
    """`--peer-ground-only`: the same file read without the activation close-ups, labelled so;
    the activations never decide whether there is an item, so every family's empty share is
    the same both ways."""
    model = write_tiny_model(tmp_path / "bg.onnx", labels=(*PROTOTYPES, BACKGROUND))
    out = tmp_path / "surfaces.json"
    assert main(["--model", str(model), "--peer", str(model), "--peer-ground-only",
                 "--per-family", "3", "--out", str(out)]) == 0  # fmt: skip
    first, peer = json.loads(out.read_text())["models"]
    assert first["version"] == "tiny-1" and peer["version"] == "tiny-1 (ground only)"
    for name in FAMILIES:
        for light in ("day", "night"):
            assert first["families"][name][light]["empty"] == peer["families"][name][light]["empty"]


def test_the_peer_read_with_a_zoom_setting_changed_is_labelled_so(tmp_path: Path) -> None:
    """`--peer-zoom NAME=VALUE`: the peer read with that vision.zoom setting, named in its
    version; a setting that is not one, or a value of the wrong kind, is refused."""
    model = write_tiny_model(tmp_path / "bg.onnx", labels=(*PROTOTYPES, BACKGROUND))
    out = tmp_path / "surfaces.json"
    assert main(["--model", str(model), "--peer", str(model), "--peer-zoom",
                 "activation_passes=1", "--peer-zoom", "activation_below=2",
                 "--per-family", "2", "--out", str(out)]) == 0  # fmt: skip
    first, peer = json.loads(out.read_text())["models"]
    assert first["version"] == "tiny-1"
    assert peer["version"] == "tiny-1 (activation_passes=1, activation_below=2.0)"
    for bad in ("passes=1", "activation_passes=many", "activation=maybe"):
        with pytest.raises(SystemExit):
            main(["--model", str(model), "--peer", str(model), "--peer-zoom", bad])
    with pytest.raises(SystemExit, match="activation_passes must be 1 or more"):
        main(["--model", str(model), "--peer", str(model), "--peer-zoom", "activation_passes=0",
              "--per-family", "1"])  # fmt: skip
