from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WASTE_V1
from train.manifest import ManifestError, load_manifests, summary_table

COLUMNS = ["path", "split", "category", "fine_label", "source", "group"]


def write_manifest(folder: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(label: str, category: str, split: str = "train", name: str = "a.jpg") -> dict[str, str]:
    return {"path": name, "split": split, "category": category, "fine_label": label,
            "source": "field", "group": name}  # fmt: skip


def test_two_manifests_combine(tmp_path: Path) -> None:
    first = write_manifest(
        tmp_path / "one", [row("battery", "hazardous"), row("paper", "recyclable", "test")]
    )
    second = write_manifest(tmp_path / "two", [row("food_waste", "kitchen", "val")])
    dataset = load_manifests([first, second])
    assert [s.label for s in dataset.samples] == ["battery", "paper", "food_waste"]
    assert dataset.samples[0].path == tmp_path / "one/a.jpg"
    assert dataset.samples[2].group == "two:a.jpg"
    assert [r.name for r in dataset.refs] == ["one", "two"]
    assert [s.label for s in dataset.split("test")] == ["paper"]
    table = summary_table(dataset.samples)
    assert "battery" in table and "3 images" in table


def test_a_crop_reviewed_as_no_item_has_no_category(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [row("background", ""), row("tissue", "other")])
    empty, tissue = load_manifests([manifest]).samples
    assert (empty.label, empty.category) == ("background", None)
    assert tissue.category is not None and tissue.category.value == "other"


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([row("sofa", "other"), row("bicycle", "recyclable")], COLUMNS,
         "unknown fine label.*bicycle, sofa"),
        ([row("battery", "other")], COLUMNS, r"manifest.csv:2: battery is hazardous"),
        ([row("battery", "hazardous", split="holdout")], COLUMNS, "split 'holdout'"),
        ([row("battery", "hazardous")], COLUMNS[:-1], "missing column.*group"),
        ([], COLUMNS, "hold no rows"),
        ([row("background", "other")], COLUMNS, "background means no item, so no category"),
    ],
)  # fmt: skip
def test_bad_manifests_are_named(
    tmp_path: Path, rows: list[dict[str, str]], columns: list[str], message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        load_manifests([write_manifest(tmp_path, rows, columns)])


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifests([tmp_path / "nope.csv"])


@pytest.mark.dataset
def test_datasets_summary_command(waste_v1_rows: list[dict[str, str]]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "binwatch", "datasets", "summary", str(WASTE_V1 / "manifest.csv")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    food = next(line for line in lines if line.startswith("food_waste"))
    assert food.split()[1:] == ["1818", "242", "361", "2421"]
    other = next(line for line in lines if line.startswith("other "))
    assert other.split()[-1] == "304"
    assert lines[-1] == "8101 images"
