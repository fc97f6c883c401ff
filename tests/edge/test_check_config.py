"""`binwatch edge check-config` catches what breaks a station, all in one run, each problem with
its path and the offending value; `binwatch edge init` and examples/station.yaml write files it
passes; `binwatch classify --bin` takes a bin name from the profile that has it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import REPO
from vision.station_file import StationFile, render

VALID: dict[str, Any] = {
    "device_id": "cam-1",
    "station_id": "ST1",
    "pseudonym_key_file": "/etc/binwatch/pseudonym.key",
    "service": {"url": "https://binwatch.example.org", "token_file": "/etc/binwatch/device.token"},
    "bins": [
        {"id": "B1", "category": "kitchen", "roi": [[10, 10], [600, 10], [600, 700], [10, 700]]},
        {"id": "B2", "category": "recyclable", "roi": [[700, 10], [1200, 10], [1200, 700]]},
    ],
    "source": {"kind": "stream", "uri": "rtsp://192.168.1.64/cam", "width": 1280, "height": 720},
}


def binwatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "binwatch", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def check(tmp_path: Path, data: object, *flags: str) -> tuple[int, list[str]]:
    path = tmp_path / "station.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True))
    done = binwatch("edge", "check-config", str(path), *flags)
    return done.returncode, done.stdout.splitlines()


def changed(**parts: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(yaml.safe_dump(VALID))
    for dotted, value in parts.items():
        *where, last = dotted.split("__")
        node: Any = data
        for key in where:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return data


def test_a_valid_file_passes_without_probing(tmp_path: Path) -> None:
    assert check(tmp_path, VALID) == (0, [f"{tmp_path / 'station.yaml'}: ok"])


@pytest.mark.parametrize(
    ("parts", "path", "said"),
    [
        ({"service__url": "not a url"}, "service.url", "'not a url'"),
        ({"service__url": "ftp://host/x"}, "service.url", "'ftp://host/x'"),
        ({"service__url": "http://host:99999"}, "service.url", "port"),
        ({"bins__1__id": "B1"}, "bins.1.id", "'B1' repeats bins.0.id"),
        ({"bins__0__roi": [[0, 0], [100, 100], [200, 200]]}, "bins.0.roi", "has no area"),
        (
            {"bins__0__roi": [[0, 0], [100, 100], [100, 0], [0, 100]]},
            "bins.0.roi",
            "crosses itself",
        ),
        ({"bins__0__roi": [[10, 10], [99999, 10], [10, 99]]}, "bins.0.roi", "(99999, 10)"),
        ({"bins__0__roi": [[10, 10], [1281, 10], [10, 99]]}, "bins.0.roi", "1280×720"),
        ({"bins__0__category": "compost"}, "bins.0.category", "unknown bin 'compost'"),
        ({"profile": "atlantis"}, "profile", "unknown profile 'atlantis'"),
        ({"source": {"kind": "file", "uri": "missing.mp4"}}, "source.uri", "'missing.mp4'"),
        ({"source": {"kind": "folder", "uri": "no-frames"}}, "source.uri", "'no-frames'"),
        ({"bins__0__roi": [[0, 0]]}, "bins.0.roi", "at least 3 items"),
        ({"service__timeout_s": -1}, "service.timeout_s", "(got -1)"),
    ],
)
def test_each_problem_with_its_path_and_value(
    tmp_path: Path, parts: dict[str, Any], path: str, said: str
) -> None:
    code, lines = check(tmp_path, changed(**parts))
    assert code == 1
    mine = [line for line in lines if f": {path}: " in line]
    assert mine and said in mine[0], lines


def test_all_problems_in_one_run(tmp_path: Path) -> None:
    bad = changed(service__url="not a url", bins__1__id="B1", bins__0__category="compost")
    bad["bins"].append({"id": "B1", "category": "kitchen", "roi": [[0, 0], [5, 5], [9, 9]]})
    bad["colour"] = "blue"
    code, lines = check(tmp_path, bad)
    assert code == 1
    said = "\n".join(lines)
    for expected in (
        "service.url: not an http(s) URL",
        "bins.1.id: 'B1' repeats bins.0.id",
        "bins.2.id: 'B1' repeats bins.0.id",
        "bins.0.category: profile national: unknown bin 'compost'",
        "bins.2.roi: has no area",
        "colour: Extra inputs are not permitted",
    ):
        assert expected in said, said
    assert "(top)" not in said


def test_a_yaml_syntax_error_names_the_file_and_line_once(tmp_path: Path) -> None:
    code, lines = check(tmp_path, "device_id: cam-1\nbins:\n  - id: B1\n   category: [x\n")
    assert code == 1 and len(lines) == 1, lines
    path = str(tmp_path / "station.yaml")
    assert lines[0].startswith(f"{path}: line 4") and lines[0].count(path) == 1, lines


def test_probe_opens_the_source_and_checks_the_regions_against_its_frames(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0001.jpg"), np.full((480, 640, 3), 90, np.uint8))
    source = {"kind": "folder", "uri": str(frames)}
    fits = changed(source=source, bins__1__roi=[[330, 10], [630, 10], [630, 470]])
    fits["bins"][0]["roi"] = [[10, 10], [300, 10], [300, 470], [10, 470]]
    assert check(tmp_path, fits, "--probe")[0] == 0
    code, lines = check(tmp_path, changed(source=source), "--probe")  # drawn on 1280×720
    assert code == 1 and any("bins.0.roi" in line and "640×480" in line for line in lines)
    said = changed(source={**source, "width": 1280, "height": 720})
    code, lines = check(tmp_path, said, "--probe")
    assert any("the source's frames are 640×480, not 1280×720" in line for line in lines)
    unreachable = changed(source={"kind": "stream", "uri": "rtsp://127.0.0.1:9/none"})
    code, lines = check(tmp_path, unreachable, "--probe")
    assert code == 1 and any("source.uri: cannot open the stream" in line for line in lines)


def test_init_and_the_example_are_files_check_config_passes(tmp_path: Path) -> None:
    example = REPO / "examples" / "station.yaml"
    assert example.read_text(encoding="utf-8") == render(StationFile())
    assert check(tmp_path, example.read_text(encoding="utf-8"))[0] == 0
    snapshot = tmp_path / "frame.jpg"
    cv2.imwrite(str(snapshot), np.full((1080, 1920, 3), 90, np.uint8))
    made = binwatch(
        "edge", "init", "--station", "ST7", "--snapshot", str(snapshot), "--out", "st7.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    written = yaml.safe_load((tmp_path / "st7.yaml").read_text(encoding="utf-8"))
    assert written["station_id"] == "ST7" and written["source"]["width"] == 1920
    assert {b["id"] for b in written["bins"]} == {"ST7-K", "ST7-R"}
    assert "token" not in written["service"] and "pseudonym_key" not in written
    assert binwatch("edge", "check-config", str(tmp_path / "st7.yaml")).returncode == 0
    again = binwatch("edge", "init", "--station", "ST7", "--out", "st7.yaml", cwd=tmp_path)
    assert again.returncode != 0 and "--force" in again.stderr


def test_every_setting_of_the_example_is_explained() -> None:
    """Each setting (or run of settings) of examples/station.yaml sits under a comment."""
    lines = (REPO / "examples" / "station.yaml").read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith("#") or text.endswith(":"):  # blank, comment, a section
            continue
        if text.startswith("- ") or line.startswith("    "):  # a bin's: explained above `bins:`
            continue
        k = n - 1
        while k >= 0 and lines[k].strip() and not lines[k].strip().startswith("#"):
            if lines[k].strip().endswith(":"):
                break
            k -= 1
        assert k >= 0 and lines[k].strip().startswith("#"), f"line {n + 1} unexplained: {line}"
