"""`binwatch classify` end to end: the real console script, a real ONNX model, real JPEGs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import WASTE_V1, shipped_version
from tests.tiny_model import PROTOTYPES, solid_image, write_tiny_model
from vision.shipped import shipped_model_path


def binwatch(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binwatch", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, check=False,
    )  # fmt: skip


@pytest.fixture
def drawn_images(tmp_path: Path) -> list[Path]:
    """JPEGs drawn here in prototype colours, a corrupt one and a missing one, in that order."""
    paths = []
    for label in ("food_waste", "battery", "plastic"):
        path = tmp_path / f"{label}.jpg"
        assert cv2.imwrite(str(path), solid_image(label))
        paths.append(path)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(paths[0].read_bytes()[:20])
    return [*paths, corrupt, tmp_path / "missing.jpg"]


def test_table_reports_each_image_and_errors_in_place(
    tiny_model: Path, drawn_images: list[Path]
) -> None:
    result = binwatch("classify", *drawn_images, "--bin", "kitchen", "--model", tiny_model)
    assert result.returncode == 1, result.stderr  # some files could not be read
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# bin kitchen (厨余垃圾")
    assert lines[1].split() == ["PATH", "LABEL", "CATEGORY", "CONF", "VERDICT"]
    rows = [line.split() for line in lines[2:]]
    assert rows[0][1:] == ["food_waste", "kitchen", "厨余垃圾", "1.000", "correct"]
    assert rows[1][1:] == [
        "battery",
        "hazardous",
        "有害垃圾",
        "1.000",
        "contaminated",
        "(hazardous)",
    ]
    assert rows[2][1:5] == ["plastic", "recyclable", "可回收物", "1.000"]
    assert "error: not a readable image" in lines[5]
    assert "error: no such file" in lines[6]
    assert len(lines) == 7


def test_json_lines_and_local_bin_names(tiny_model: Path, drawn_images: list[Path]) -> None:
    result = binwatch("classify", *drawn_images[:4], "--bin", "湿垃圾", "--profile", "shanghai",
                      "--model", tiny_model, "--json")  # fmt: skip
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("verdict") for r in records] == ["correct", "contaminated", "contaminated", None]
    food, battery = records[0], records[1]
    assert food["category_name"] == "湿垃圾" and food["bin"] == "kitchen"
    assert food["profile"] == "shanghai" and food["model_version"] == "tiny-1"
    assert battery["offending"] == ["hazardous"] and battery["belongs"] < 0.01
    assert records[3] == {
        "path": str(drawn_images[3]),
        "error": "not a readable image (cannot decode it)",
    }


def test_a_local_bin_name_finds_its_profile(tiny_model: Path, drawn_images: list[Path]) -> None:
    """湿垃圾 is Shanghai's name: without --profile, the profile that has it is used."""
    result = binwatch(
        "classify", drawn_images[0], "--bin", "湿垃圾", "--model", tiny_model, "--json"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["profile"] == "shanghai" and record["bin"] == "kitchen"
    assert record["verdict"] == "correct"


def test_rural_group_bin(tiny_model: Path, drawn_images: list[Path]) -> None:
    result = binwatch("classify", *drawn_images[:3], "--bin", "不会烂的", "--profile", "rural",
                      "--model", tiny_model, "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(line)["verdict"] for line in result.stdout.splitlines()]
    assert verdicts == ["contaminated", "correct", "correct"]


@pytest.mark.dataset
def test_hundreds_of_real_photos_in_one_call(
    tiny_model: Path, waste_v1_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    paths = [WASTE_V1 / r["path"] for r in waste_v1_rows if r["split"] == "test"][:300]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\x00" * 100)
    paths.insert(150, broken)
    result = binwatch("classify", *paths, "--bin", "recyclable", "--model", tiny_model,
                      "--json", "--batch-size", "32")  # fmt: skip
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in paths]
    assert "error" in records[150]
    good = records[:150] + records[151:]
    assert all(r["label"] in PROTOTYPES and r["verdict"] in
               {"correct", "contaminated", "uncertain"} for r in good)  # fmt: skip


def test_folders_are_expanded(tiny_model: Path, drawn_images: list[Path]) -> None:
    folder = drawn_images[0].parent
    result = binwatch("classify", folder, "--bin", "kitchen", "--model", tiny_model, "--json")
    paths = [json.loads(line)["path"] for line in result.stdout.splitlines()]
    assert paths == sorted(str(p) for p in drawn_images[:4])


def _bad_model(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.onnx"
    if kind == "missing metadata":
        return write_tiny_model(path, metadata=None)
    if kind == "label count mismatch":
        return write_tiny_model(path, outputs=7)
    write_tiny_model(path)
    path.write_bytes(path.read_bytes()[:-200])  # truncated
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing metadata", "no binwatch metadata"),
        ("truncated", "not a loadable ONNX model"),
        ("label count mismatch", r"outputs shape \[1, 7\] but its metadata lists 12 labels"),
    ],
)
def test_bad_models_give_one_line_and_exit_2(
    tmp_path: Path, drawn_images: list[Path], kind: str, message: str
) -> None:
    model = _bad_model(tmp_path, kind)
    result = binwatch("classify", drawn_images[0], "--bin", "kitchen", "--model", model)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("binwatch classify: error: ")
    assert re.search(message, lines[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bin", "compost"], "unknown bin 'compost'"),
        (["--bin", "kitchen", "--profile", "atlantis"], "unknown profile 'atlantis'"),
        (["--bin", "kitchen", "--threads", "0"], "threads must be in 1..64"),
    ],
)
def test_bad_arguments_exit_2(
    tiny_model: Path, drawn_images: list[Path], args: list[str], message: str
) -> None:
    result = binwatch("classify", drawn_images[0], "--model", tiny_model, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.dataset
def test_shipped_model_is_the_default(waste_v1_rows: list[dict[str, str]]) -> None:
    shipped = shipped_model_path()
    assert shipped is not None, "models/binwatch.onnx must ship with the package"
    test = [r for r in waste_v1_rows if r["split"] == "test"]
    picks = [r for label in ("battery", "food_waste", "glass")
             for r in [r for r in test if r["fine_label"] == label][:5]]  # fmt: skip
    result = binwatch("classify", *(WASTE_V1 / r["path"] for r in picks), "--bin", "kitchen",
                      "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 15 and {o["model_version"] for o in out} == {shipped_version()}
    right = [o["category"] == r["category"] for o, r in zip(out, picks, strict=True)]
    assert sum(right) >= 13, out
    verdicts: dict[str, set[str]] = {r["category"]: set() for r in picks}
    for o, r in zip(out, picks, strict=True):
        verdicts[r["category"]].add(o["verdict"])
    assert "contaminated" in verdicts["hazardous"] and "correct" in verdicts["kitchen"]


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "binwatch"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "classify" in result.stdout


def test_json_logs(tiny_model: Path, drawn_images: list[Path]) -> None:
    result = binwatch("classify", drawn_images[0], "--bin", "kitchen", "--model", tiny_model,
                      "--log-level", "info", "--log-format", "json")  # fmt: skip
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert any("loaded model tiny-1" in x["message"] for x in lines)


def test_a_small_item_on_a_plain_floor_is_read_close_up(tiny_model: Path, tmp_path: Path) -> None:
    """The tiny model reads a photo's mean colour: the whole white floor with a small blue
    square on it is `paper`; read close up (the square most of the crop), it is not; `--whole`
    reads it as before and says so with a null `item_box`."""
    floor = np.full((360, 480, 3), 245, np.uint8)
    noise = np.random.default_rng(0).normal(0, 2, floor.shape)
    floor = np.clip(floor + noise, 0, 255).astype(np.uint8)
    floor[200:290, 300:390] = (230, 60, 30)  # BGR: plastic blue, a quarter of the photo's height
    path = tmp_path / "floor.jpg"
    assert cv2.imwrite(str(path), floor, [cv2.IMWRITE_JPEG_QUALITY, 90])
    whole = binwatch("classify", path, "--bin", "other", "--model", tiny_model, "--json", "--whole")
    zoomed = binwatch("classify", path, "--bin", "other", "--model", tiny_model, "--json")
    assert whole.returncode == zoomed.returncode == 0, zoomed.stderr
    before, after = json.loads(whole.stdout), json.loads(zoomed.stdout)
    assert before["label"] == "paper" and before["item_box"] is None
    assert after["label"] != "paper"
    box = after["item_box"]
    # the square (300..390, 200..290) and a blur's width round it
    assert 290 <= box["x"] <= 300 and 190 <= box["y"] <= 200
    assert 390 <= box["x"] + box["w"] <= 400 and 290 <= box["y"] + box["h"] <= 300


def _both_ways_with_background(
    tmp_path: Path, photo: np.ndarray
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`photo` (float BGR, sensor noise added) as a JPEG through `binwatch classify --json` with
    the tiny model that has a `background` output: as classify reads it, and `--whole`."""
    from tests.tiny_model import PROTOTYPES, write_tiny_model
    from vision.metadata import BACKGROUND

    model = write_tiny_model(tmp_path / "tiny-bg.onnx", labels=(*PROTOTYPES, BACKGROUND))
    photo = photo + np.random.default_rng(0).normal(0, 2, photo.shape)
    path = tmp_path / "photo.jpg"
    assert cv2.imwrite(str(path), np.clip(photo, 0, 255).astype(np.uint8))
    read = binwatch("classify", path, "--bin", "other", "--model", model, "--json")
    whole = binwatch("classify", path, "--bin", "other", "--model", model, "--json", "--whole")
    assert read.returncode == whole.returncode == 0, read.stderr
    return json.loads(read.stdout), json.loads(whole.stdout)


def test_a_quiet_plain_floor_is_empty_and_says_why(tmp_path: Path) -> None:
    """A grey-blue plate the tiny model (with a `background` output) reads as `metal`, leaving
    "no item" a few per cent: nothing on it stands out, so classify answers `empty` with
    `ground_only` true; `--whole` gives the model's own answer."""
    plate = np.full((360, 480, 3), (156, 150, 150), np.float32)
    after, before = _both_ways_with_background(tmp_path, plate)
    assert before["label"] == "metal" and before["ground_only"] is False
    assert 0.02 <= before["background"] < 0.5
    assert after["verdict"] == "empty" and after["category"] is None and after["ground_only"]
    assert after["background"] == before["background"] and after["item_box"] is None


def test_a_tiny_item_the_whole_photo_misses_is_found_and_says_so(tmp_path: Path) -> None:
    """The tiny model (with a `background` output) reads a grey floor with a small green
    square as "no item" whole; its close-up is food waste, so classify answers `kitchen` with
    `found_close_up` true and the square's `item_box`; `--whole` answers `empty`."""
    photo = np.full((360, 480, 3), 128, np.float32)
    photo[150:222, 250:322] = (0, 255, 0)
    after, before = _both_ways_with_background(tmp_path, photo)
    assert before["verdict"] == "empty" and before["found_close_up"] is False
    assert after["category"] == "kitchen" and after["found_close_up"] is True
    assert after["verdict"] != "empty" and after["ground_only"] is False
    box = after["item_box"]
    assert 240 <= box["x"] <= 250 and 140 <= box["y"] <= 150


def test_an_item_on_a_busy_floor_is_placed_by_the_model_and_says_so(tmp_path: Path) -> None:
    """A red square on a dark patchwork (not a plain ground): a soft tiny model (with a
    `background` output) reads the whole photo unsurely as `residual`; its activations place
    the square, which is read close up (`item_found_by` "activation"), and the photo belongs
    to the hazardous bin a little more; `--whole` reads it as before, with nulls."""
    from tests.tiny_model import PROTOTYPES, write_tiny_model
    from vision.metadata import BACKGROUND

    model = write_tiny_model(tmp_path / "soft.onnx", labels=(*PROTOTYPES, BACKGROUND),
                             sharpness=3.0)  # fmt: skip
    rng = np.random.default_rng(0)
    patches = np.asarray((60, 60, 60), np.float32) + rng.uniform(-25, 25, (16, 16, 3))
    photo = cv2.resize(patches, (480, 360), interpolation=cv2.INTER_NEAREST)
    photo[150:210, 300:360] = (20, 20, 230)  # BGR: the battery's red
    path = tmp_path / "busy.jpg"
    assert cv2.imwrite(str(path), np.clip(photo, 0, 255).astype(np.uint8))
    args = ("classify", path, "--bin", "hazardous", "--model", model, "--json")
    read, whole = binwatch(*args), binwatch(*args, "--whole")
    assert read.returncode == whole.returncode == 0, read.stderr
    after, before = json.loads(read.stdout), json.loads(whole.stdout)
    assert before["label"] == "residual" and before["item_found_by"] is None
    assert after["item_found_by"] == "activation" and after["belongs"] > before["belongs"]
    box = after["item_box"]
    assert box["x"] <= 330 <= box["x"] + box["w"] and box["y"] <= 180 <= box["y"] + box["h"]
