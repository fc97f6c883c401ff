"""Dataset manifests: CSV files with one row per image (path, split, category, fine_label,
source, group, ...), as in ../shared/datasets/*/manifest.csv. Several can be combined."""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vision.errors import BinwatchError, TaxonomyError
from vision.metadata import BACKGROUND, DatasetRef
from vision.taxonomy import Category, check_labels, load_profile

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("path", "split", "category", "fine_label", "source", "group")
SPLITS = ("train", "val", "test")


class ManifestError(BinwatchError):
    """A manifest cannot be read or disagrees with the taxonomy."""


@dataclass(frozen=True)
class Sample:
    path: Path
    split: str
    category: Category | None  # None: a crop with no item (label `background`)
    label: str
    source: str
    group: str
    manifest: str


@dataclass(frozen=True)
class Dataset:
    samples: tuple[Sample, ...]
    refs: tuple[DatasetRef, ...]

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ManifestError(f"{path}: missing column(s): {', '.join(missing)}")
            return list(reader)
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc


def _sample(manifest: Path, row: dict[str, str], category: Category | None) -> Sample:
    name = manifest.parent.name
    return Sample(manifest.parent / row["path"], row["split"], category, row["fine_label"],
                  row["source"], f"{name}:{row['group']}", name)  # fmt: skip


def load_manifests(paths: Iterable[str | Path]) -> Dataset:
    """Read and check manifests: labels must be in the catalog, categories must agree with
    the national profile, splits must be train/val/test. `background` (no item: a crop a
    reviewer found empty) is the one label outside the catalog, with an empty category. Image
    paths resolve against the manifest's folder."""
    national = load_profile("national")
    samples: list[Sample] = []
    refs: list[DatasetRef] = []
    for raw in paths:
        path = Path(raw)
        rows = _read_rows(path)
        try:
            check_labels(sorted({row["fine_label"] for row in rows} - {BACKGROUND}))
        except TaxonomyError as exc:
            raise ManifestError(f"{path}: {exc}") from None
        name = path.parent.name
        for number, row in enumerate(rows, start=2):
            if row["split"] not in SPLITS:
                raise ManifestError(
                    f"{path}:{number}: split {row['split']!r} is not one of {SPLITS}"
                )
            if row["fine_label"] == BACKGROUND:  # no item (a reviewed false trigger)
                if row["category"]:
                    raise ManifestError(
                        f"{path}:{number}: {BACKGROUND} means no item, so no category; "
                        f"the manifest says {row['category']}"
                    )
                samples.append(_sample(path, row, None))
                continue
            category = national.category_of(row["fine_label"])
            if row["category"] != category.value:
                raise ManifestError(
                    f"{path}:{number}: {row['fine_label']} is {category.value} in the national "
                    f"profile, the manifest says {row['category']}"
                )
            samples.append(_sample(path, row, category))
        refs.append(DatasetRef(name=name, sha256=sha256_of(path), rows=len(rows)))
    if not samples:
        raise ManifestError("the manifests hold no rows")
    return Dataset(tuple(samples), tuple(refs))


def summary_table(samples: Sequence[Sample]) -> str:
    """Counts per fine label and split, per category, and per source, as plain text."""
    by_label = Counter((s.label, s.split) for s in samples)
    by_category = Counter((s.category.value if s.category else s.label, s.split) for s in samples)
    by_source = Counter((s.source, s.split) for s in samples)
    lines: list[str] = []
    for title, counts in (("label", by_label), ("category", by_category), ("source", by_source)):
        keys = sorted({key for key, _ in counts}, key=lambda k: (-sum(
            counts[(k, sp)] for sp in SPLITS), k))  # fmt: skip
        width = max(len(title), *(len(k) for k in keys))
        lines.append(f"{title:<{width}}  " + "  ".join(f"{sp:>6}" for sp in SPLITS) + "   total")
        for key in keys:
            row = [counts[(key, sp)] for sp in SPLITS]
            cells = "  ".join(f"{n:>6}" for n in row)
            lines.append(f"{key:<{width}}  {cells}  {sum(row):>6}")
        lines.append("")
    lines.append(f"{len(samples)} images")
    return "\n".join(lines)
