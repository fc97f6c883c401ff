"""bench.new_floor: a floor the training never drew, its false triggers reviewed as
`background`, retrained on, and the candidate scored beside the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import new_floor
from bench.surfaces import draw_set
from tests.conftest import WASTE_EXTRA, WASTE_V1, no_datasets
from vision.imageio import read_image
from vision.metadata import BACKGROUND
from vision.shipped import shipped_model_path


def test_reviewed_photos_are_labelled_background_and_never_the_scored_ones(
    tmp_path: Path,
) -> None:
    reviewed = new_floor.reviewed_floor(tmp_path, "treadplate", 3, 0)
    assert [s.label for s in reviewed] == [BACKGROUND] * 3
    assert all(s.category is None for s in reviewed) and len({s.group for s in reviewed}) == 3
    (tmp_path / "bench").mkdir()
    scored = draw_set(tmp_path / "bench", 3, 0)["treadplate"]
    for s in reviewed:
        image = read_image(s.path)
        assert not any(np.array_equal(image, read_image(p)) for p in scored)


def test_the_bench_retrains_on_reviewed_floor_photos_and_scores_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = [WASTE_V1 / "manifest.csv", WASTE_EXTRA / "manifest.csv"]
    if not all(m.is_file() for m in manifests):
        no_datasets(f"shared datasets not found under {WASTE_V1.parent} (it retrains on them)")
    model = shipped_model_path()
    assert model is not None
    monkeypatch.setattr(new_floor, "default_folder", lambda: tmp_path / "cache")
    out = tmp_path / "floor.json"
    argv = ["--model", str(model), "--family", "treadplate", "--k", "4",
            "--per-family", "2", "--items", "3", "--limit", "40", "--out", str(out)]  # fmt: skip
    for m in manifests:
        argv += ["--manifest", str(m)]
    assert new_floor.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["family"] == "treadplate" and result["items"] == 3
    (run,) = result["runs"]
    assert run["k"] == 4 and run["tuned_blocks"] == 0  # under 40 reviews: the head alone
    assert run["version"] != result["before"]["version"]  # the candidate, not the model
    for scored in (result["before"], run):
        assert 0 <= scored["families"]["treadplate"]["night"]["empty"] <= 1
        assert scored["day"]["photos"] == 2 * len(scored["families"])
        assert scored["items"]["all"]["images"] == 3 * len(scored["families"])
    assert 0.9 < run["base_test_accuracy_after"] <= 1.0
    assert "after 4 reviewed" in capsys.readouterr().out


def test_the_bench_refuses_an_empty_draw(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        new_floor.main(["--manifest", "m.csv", "--k", "0"])
    assert "must be 1 or more" in capsys.readouterr().err
