"""`binwatch classify IMAGE... --bin CATEGORY`: classify image files and judge each as a drop-off
of one item into the given bin. Unreadable files are reported on their own line; the rest run.
An image with no item in it (a model with a `background` output says so) gets verdict `empty`
and `category` null. A small item on a plain floor is found and read close up (`vision.zoom`;
`item_box` says where, null when the photo was read whole; a tiny item the whole photo missed
is still an item when its close-up reads one, `found_close_up` true), and a plain floor with
nothing standing out on it is `empty` when the model leaves "no item" a little room
(`ground_only` true); `--whole` reads every photo whole, as the model alone answers.
Exit status: 0 all classified, 1 some files could not be read, 2 bad model, profile or bin."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vision.taxonomy import Profile

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of them")
    parser.add_argument(
        "--bin",
        required=True,
        help="the bin: kitchen, recyclable, hazardous, other, a group of "
        "the profile (e.g. does_not_rot), or its local name (e.g. 湿垃圾)",
    )
    parser.add_argument(
        "--model", type=Path, help="ONNX model with binwatch metadata (default: the shipped model)"
    )
    parser.add_argument(
        "--profile",
        help="taxonomy profile: national, shanghai, rural or a YAML file (default: the model's)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per image")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    parser.add_argument(
        "--whole",
        action="store_true",
        help="read every photo whole, the model alone deciding (default: a small item on a "
        "plain floor is found and read close up, and a plain floor with nothing on it may be "
        "answered empty)",
    )


def _expand(paths: Sequence[str]) -> list[Path]:
    from vision.imageio import IMAGE_SUFFIXES

    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _profile_naming(current: Profile, name: str) -> str | None:
    """Without --profile, a bin named the way only another built-in profile names it (湿垃圾 is
    Shanghai's): that profile. None when the current one knows the name; an error naming the
    profiles when several do."""
    from vision.errors import TaxonomyError
    from vision.taxonomy import BUILTIN_PROFILES, load_profile

    try:
        current.resolve_bin(name)
        return None
    except TaxonomyError:
        pass
    naming = []
    for candidate in BUILTIN_PROFILES:
        try:
            load_profile(candidate).resolve_bin(name)
            naming.append(candidate)
        except TaxonomyError:
            continue
    if len(naming) > 1:
        named = ", ".join(naming)
        raise TaxonomyError(f"bin {name!r} is named by profiles {named}: pass --profile")
    return naming[0] if naming else None


def run(args: argparse.Namespace) -> int:
    from vision.classifier import Classifier, ClassifierOptions
    from vision.errors import BinwatchError, ImageError
    from vision.imageio import read_image
    from vision.prediction import items_only
    from vision.shipped import shipped_model_path
    from vision.verdict import judge
    from vision.zoom import Reading, read_photos

    model_path = args.model or shipped_model_path()
    if model_path is None:
        raise BinwatchError(
            "no trained model ships with this install yet: pass --model PATH "
            "(an ONNX file with binwatch metadata)"
        )
    try:
        options = ClassifierOptions(threads=args.threads, batch_size=args.batch_size)
    except ValueError as exc:
        raise BinwatchError(str(exc)) from None
    classifier = Classifier(model_path, options, profile=args.profile)
    if args.profile is None and (other := _profile_naming(classifier.profile, args.bin)):
        classifier = Classifier(model_path, options, profile=other)  # the bin's own profile
    profile, meta = classifier.profile, classifier.metadata
    bin_code = profile.resolve_bin(args.bin)
    accepted = profile.accepted(bin_code)
    paths = _expand(args.images)
    if not paths:
        raise BinwatchError("no image files found in the given folders")

    out = _JsonWriter() if args.json else _TableWriter(paths)
    bin_names = profile.names(bin_code)
    out.header(
        f"bin {bin_code} ({bin_names.zh}, {bin_names.en}) · profile {profile.name} · "
        f"model {meta.model_version}"
    )
    failures = 0
    for chunk in _chunks(paths, options.batch_size):
        images, readable = [], []
        errors: dict[Path, str] = {}
        for path in chunk:
            try:
                images.append(read_image(path))
                readable.append(path)
            except ImageError as exc:
                errors[path] = str(exc)
        if not images:
            readings: list[Reading] = []
        elif args.whole:
            readings = [Reading(p, None, p) for p in classifier.classify(images)]
        else:
            readings = read_photos(classifier, images)
        by_path: dict[Path, Reading] = dict(zip(readable, readings, strict=True))
        for path in chunk:
            if path in errors:
                failures += 1
                out.error(path, errors[path])
                continue
            reading = by_path[path]
            prediction, box = reading.prediction, reading.item_box
            verdict = judge(items_only([prediction]), accepted, meta.thresholds)
            top = sorted(
                zip(classifier.labels, prediction.probabilities.tolist(), strict=True),
                key=lambda pair: -pair[1],
            )[:3]
            empty = prediction.is_background
            out.row(
                {
                    "path": str(path),
                    # no item in the image: verdict `empty`, no label, no category
                    "label": None if empty else prediction.label,
                    "category": None if empty else prediction.category.value,
                    "category_name": None if empty else profile.names(prediction.category).zh,
                    # the probability of the answer given: the item's label, or "no item"
                    "confidence": round(
                        prediction.background if empty else prediction.confidence, 4
                    ),
                    "background": round(prediction.background, 4),
                    "verdict": verdict.kind.value,
                    "belongs": None if verdict.score is None else round(verdict.score, 4),
                    "offending": [c.value for c in verdict.offending],
                    "bin": bin_code,
                    "profile": profile.name,
                    "model_version": meta.model_version,
                    "top": [{"label": label, "p": round(p, 4)} for label, p in top],
                    # the item read close up (photo pixels); null: the photo was read whole
                    "item_box": None if box is None else box.model_dump(),
                    # what placed it: "ground" (a plain floor round it) or "activation" (where
                    # the model sees an item); null: read whole
                    "item_found_by": reading.located_by,
                    # "no item" because the ground is plain and nothing on it stands out
                    "ground_only": reading.ground_only,
                    # an item although the whole photo read as "no item": its close-up found it
                    "found_close_up": reading.found_close_up,
                }
            )
        sys.stdout.flush()
    return 1 if failures else 0


def _chunks(paths: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


class _JsonWriter:
    def header(self, text: str) -> None:
        pass

    def row(self, record: dict[str, Any]) -> None:
        print(json.dumps(record, ensure_ascii=False))

    def error(self, path: Path, message: str) -> None:
        print(json.dumps({"path": str(path), "error": message}, ensure_ascii=False))


class _TableWriter:
    COLUMNS = ("PATH", "LABEL", "CATEGORY", "CONF", "VERDICT")

    def __init__(self, paths: Sequence[Path]) -> None:
        from vision.taxonomy import label_catalog

        self.path_width = max(_width("PATH"), *(_width(str(p)) for p in paths))
        self.label_width = max(len(label) for label in label_catalog())

    def header(self, text: str) -> None:
        print(f"# {text}")
        print(self._line(self.COLUMNS))

    def _line(self, cells: Sequence[str]) -> str:
        path, label, category, conf, verdict = cells
        return (
            f"{_pad(path, self.path_width)}  {_pad(label, self.label_width)}  "
            f"{_pad(category, 20)}  {conf:>5}  {verdict}"
        )

    def row(self, record: dict[str, Any]) -> None:
        category = f"{record['category']} {record['category_name']}"
        if record["category"] is None:
            category, record = "no item 无物品", {**record, "label": "-"}
        verdict = record["verdict"]
        if record["offending"]:
            verdict += f" ({', '.join(record['offending'])})"
        print(
            self._line(
                (record["path"], record["label"], category, f"{record['confidence']:.3f}", verdict)
            )
        )

    def error(self, path: Path, message: str) -> None:
        print(f"{_pad(str(path), self.path_width)}  error: {message}")
