"""The installs stay apart: the edge install never pulls torch or fastapi."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "fastapi", "torchvision", "timm", "albumentations", "sqlalchemy")
PROBE = (
    "import sys, json, edge, vision, vision.classifier, vision.events, vision.verdict, "
    "vision.taxonomy, vision.preprocess, vision.imageio\n"
    "vision.taxonomy.load_profile('rural')\n"
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
)


def _loaded(python: str, cwd: Path) -> set[str]:
    out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, cwd=cwd,
                         check=True).stdout  # fmt: skip
    return set(json.loads(out))


def test_vision_and_edge_import_nothing_heavy(tmp_path: Path) -> None:
    loaded = _loaded(sys.executable, Path(__file__).resolve().parents[1])
    assert {"edge", "vision", "onnxruntime", "cv2"} <= loaded
    assert loaded.isdisjoint(HEAVY)


def test_binwatch_help_imports_no_subsystem() -> None:
    code = (
        "import sys, contextlib, io\nfrom binwatch.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert loaded.isdisjoint({*HEAVY, "onnxruntime", "cv2", "vision", "edge", "api", "train"})


def _edge_python() -> str:
    python = os.environ.get("BINWATCH_TEST_EDGE_PYTHON")
    if python:
        return python
    if os.environ.get("CI"):
        pytest.fail("CI must set BINWATCH_TEST_EDGE_PYTHON to a venv with only binwatch[edge]")
    pytest.skip("BINWATCH_TEST_EDGE_PYTHON is not set (.ci/run builds an edge-only venv)")


def test_edge_only_install_has_no_torch_or_fastapi(tmp_path: Path) -> None:
    python = _edge_python()
    loaded = _loaded(python, tmp_path)  # run outside the source tree: the installed package
    assert {"edge", "vision", "onnxruntime"} <= loaded
    for module in ("torch", "fastapi"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                               check=False)  # fmt: skip
        assert probe.returncode != 0, f"{module} is installed in the edge-only environment"


def test_edge_only_install_classifies(tmp_path: Path, tiny_model: Path) -> None:
    import cv2

    from tests.tiny_model import solid_image

    python = _edge_python()
    image = tmp_path / "peel.jpg"
    cv2.imwrite(str(image), solid_image("food_waste"))
    result = subprocess.run(
        [python, "-m", "binwatch", "classify", str(image), "--bin", "kitchen",
         "--model", str(tiny_model), "--json"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "correct"
