from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest

from tests.tiny_model import build_tiny_model, tiny_metadata
from vision.errors import MetadataError
from vision.metadata import METADATA_KEY, ModelMetadata, embed_metadata, parse_metadata
from vision.taxonomy import Category


def test_metadata_round_trips_through_an_onnx_file(tmp_path: Path) -> None:
    meta = tiny_metadata(
        thresholds={"correct": 0.7, "contaminated": 0.8,
                    "contaminated_by_category": {"hazardous": 0.55}},
        provenance={"commit": "abc123", "recipe": {"epochs": 3, "lr": 0.01},
                    "datasets": [{"name": "waste-v1", "sha256": "0" * 64, "rows": 8101}]},
        metrics={"test_macro_recall": 0.91},
    )  # fmt: skip
    model = build_tiny_model(metadata=False)
    model.metadata_props.add(key="producer_note", value="kept")
    embed_metadata(model, meta)
    embed_metadata(model, meta)  # replacing, not appending
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))

    props = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert props["producer_note"] == "kept"
    assert [p.key for p in onnx.load(str(path)).metadata_props].count(METADATA_KEY) == 1
    read = parse_metadata(props, str(path))
    assert read == meta
    assert read.thresholds.contamination_threshold(Category.HAZARDOUS) == 0.55
    assert read.thresholds.contamination_threshold(Category.KITCHEN) == 0.8


def _props(**changes: object) -> dict[str, str]:
    data = json.loads(tiny_metadata().to_json())
    data.update(changes)
    return {METADATA_KEY: json.dumps(data)}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "no binwatch metadata"),
        ({METADATA_KEY: "{not json"}, "not valid JSON"),
        (_props(labels=["paper", "bicycle"]), "labels: .*unknown fine label.*bicycle"),
        (_props(labels=["paper", "paper", "glass"]), "repeated label.*paper"),
        (_props(labels=["paper"]), "labels: "),
        (_props(schema_version=3), "schema version 3 is unknown to this binwatch"),
        (_props(schema_version="two"), "schema_version"),
        (_props(schema_version=1, labels=["paper", "glass", "background"],
                reserved=["background"]), "reserved outputs need schema_version 2"),
        (_props(reserved=["background"]), "background not among the labels"),
        (_props(labels=["paper", "glass", "background"]), "background is a reserved output"),
        (_props(labels=["paper", "glass", "sky"], reserved=["sky"]), "reserved.0"),
        (_props(labels=["paper", "background"], reserved=["background"]), "two item labels"),
        (_props(model_version="has space"), "model_version"),
        (_props(thresholds={"correct": 0.4}), "thresholds.correct"),
        (_props(preprocess={"input_size": [8, 8], "mean": [0, 0, 0], "std": [1, 1, 1]}),
         "preprocess.input_size"),
        (_props(preprocess={"input_size": [32, 32], "mean": [0, 0, 0], "std": [1, 0, 1]}),
         "preprocess.std"),
        (_props(surprise=1), "surprise: Extra inputs"),
    ],
)  # fmt: skip
def test_bad_metadata_is_named(props: dict[str, str], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_metadata(props, "model.onnx")


def test_metadata_json_is_stable() -> None:
    meta = tiny_metadata()
    assert ModelMetadata.model_validate_json(meta.to_json()) == meta
    assert json.loads(meta.to_json())["preprocess"]["version"] == 1
