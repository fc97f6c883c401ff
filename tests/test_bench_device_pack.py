"""bench.device_pack: the train and val photos shrunk for the GPU machine's small tree."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.device_pack import pack_manifest

FIELDS = ["path", "split", "category", "width", "height"]


def test_train_and_val_photos_are_shrunk_and_test_photos_stay(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for name, split in (("a", "train"), ("b", "val"), ("c", "test")):
        cv2.imwrite(str(source / "images" / f"{name}.jpg"),
                    rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))  # fmt: skip
        rows.append({"path": f"images/{name}.jpg", "split": split, "category": "other",
                     "width": "400", "height": "300"})  # fmt: skip
    with (source / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)

    written = pack_manifest(source / "manifest.csv", tmp_path / "out", side=200, quality=60)

    with (tmp_path / "out" / "manifest.csv").open(newline="") as handle:
        packed = list(csv.DictReader(handle))
    assert [r["split"] for r in packed] == ["train", "val"]
    assert all((r["width"], r["height"]) == ("200", "150") for r in packed)
    image = cv2.imread(str(tmp_path / "out" / "images" / "a.jpg"))
    assert image is not None and image.shape == (150, 200, 3)
    assert not (tmp_path / "out" / "images" / "c.jpg").exists()
    assert written == sum((tmp_path / "out" / r["path"]).stat().st_size for r in packed)


def test_an_unreadable_photo_is_named(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "manifest.csv").write_text(
        "path,split,category,width,height\nimages/x.jpg,train,other,1,1\n"
    )
    with pytest.raises(ValueError, match=r"x\.jpg"):
        pack_manifest(tmp_path / "manifest.csv", tmp_path / "out", side=200, quality=60)
