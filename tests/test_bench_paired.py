"""bench.paired: two recipes compared draw by draw on bench.adapt's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.paired import main, pair_draws, sign_test, summary


def _run(seed: int, recipe: str, after: float, right: int, blocks: int = 2) -> dict[str, Any]:
    return {"k": 50, "seed": seed, "recipe": recipe, "tuned_blocks": blocks,
            "macro_recall_before": 0.90 + seed / 100, "macro_recall_after": after,
            "scored": 200, "accuracy_after": right / 200, "gate_passed": seed == 0,
            "base_test_accuracy_after": 0.985}  # fmt: skip


def _file(path: Path, runs: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"set": "x", "model": "m.onnx", "runs": runs}))
    return path


def test_sign_test_is_exact() -> None:
    assert sign_test(4, 4) == 1.0
    assert sign_test(0, 0) == 1.0
    assert sign_test(8, 0) == pytest.approx(2 / 256)
    assert sign_test(7, 1) == pytest.approx(2 * 9 / 256)
    assert sign_test(1, 7) == sign_test(7, 1)


def test_draws_pair_by_k_and_draw_and_sum_up(tmp_path: Path) -> None:
    base = _file(tmp_path / "a.json", [_run(0, "default", 0.90, 180), _run(1, "default", 0.92, 185),
                                       _run(0, "default", 0.80, 150, blocks=4)])  # fmt: skip
    cand = _file(tmp_path / "b.json", [_run(1, "x=1", 0.95, 190), _run(0, "x=1", 0.89, 181),
                                       _run(0, "other", 0.50, 100)])  # fmt: skip
    draws = pair_draws([(base, cand)], "default", "x=1", blocks=2)
    assert [(d.seed, round(100 * d.difference, 6)) for d in draws] == [(0, -1.0), (1, 3.0)]
    s = summary(draws)
    assert s["higher"] == 1 and s["lower"] == 1 and s["same"] == 0
    assert s["mean_difference"] == pytest.approx(0.01)
    assert (s["photos_right_base"], s["photos_right_candidate"]) == (365, 371)
    assert s["photos_scored"] == 400 and s["gate_passed_candidate"] == 1


def test_what_cannot_be_paired_is_refused(tmp_path: Path) -> None:
    base = _file(tmp_path / "a.json", [_run(0, "default", 0.9, 180), _run(1, "default", 0.9, 180)])
    short = _file(tmp_path / "b.json", [_run(0, "default", 0.9, 180)])
    with pytest.raises(ValueError, match="different draws"):
        pair_draws([(base, short)])
    with pytest.raises(ValueError, match="no run of recipe 'x=1'"):
        pair_draws([(base, base)], candidate_recipe="x=1")
    two = _file(tmp_path / "c.json", [_run(0, "default", 0.9, 180),
                                      _run(0, "default", 0.9, 180, blocks=4)])  # fmt: skip
    with pytest.raises(ValueError, match="--blocks"):
        pair_draws([(two, two)])
    other_site = _run(0, "default", 0.9, 180)
    other_site["counts"] = {"other": 19}
    moved = _file(tmp_path / "d.json", [other_site])
    with pytest.raises(ValueError, match="not the same site"):
        pair_draws([(two, moved)], blocks=2)
    read_otherwise = _run(0, "default", 0.9, 180)
    read_otherwise["macro_recall_before"] = 0.5  # the same model could not read it so
    with pytest.raises(ValueError, match="not the same site"):
        pair_draws([(two, _file(tmp_path / "e.json", [read_otherwise]))], blocks=2)


def test_block_counts_compare_within_one_file(tmp_path: Path) -> None:
    both = _file(tmp_path / "a.json", [_run(0, "default", 0.90, 180),
                                       _run(0, "default", 0.92, 183, blocks=4)])  # fmt: skip
    draws = pair_draws([(both, both)], blocks=2, candidate_blocks=4)
    assert [round(100 * d.difference, 6) for d in draws] == [2.0]


def test_main_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _file(tmp_path / "a.json", [_run(0, "default", 0.90, 180)])
    cand = _file(tmp_path / "b.json", [_run(0, "x=1", 0.93, 186)])
    out = tmp_path / "paired.json"
    args = ["--pair", str(base), str(cand), "--candidate-recipe", "x=1", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| b | 50 | 0 | 90.0 | 90.0 | 93.0 | +3.0 | 180 / 186 |" in printed
    assert "1 higher, 0 lower" in printed
    assert json.loads(out.read_text())["summary"]["photos_right_candidate"] == 186
    with pytest.raises(SystemExit):
        main(["--pair", str(base), str(tmp_path / "missing.json")])
