"""`bench/inference.py` times what it names: the shipped file against a torch network of the same
shape on real photos, the ratio taken within each run, and the median and range over runs."""

from __future__ import annotations

import pytest
import torch

from bench.inference import (
    DATA,
    FLOAT_VIEW,
    SATURATING,
    U8U8,
    one_run,
    photos,
    summarise,
    torch_peer,
    with_earlier,
)
from tests.conftest import no_datasets
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.int8_kernels import default_int8_exact
from vision.preprocess import preprocess
from vision.shipped import shipped_model_path


def test_the_speed_bench_times_the_shipped_file_against_the_same_network() -> None:
    model = shipped_model_path()
    if model is None:
        pytest.fail("no shipped model under models/")
    paths = photos()
    if len(paths) < 8:
        no_datasets(f"photos not found in {DATA}")
    crops = [read_image(p) for p in paths]
    classifier = Classifier(model)
    network = torch_peer(None, classifier)  # no checkpoint: the architecture, ImageNet body
    with torch.no_grad():
        out = network(torch.from_numpy(preprocess(crops[:2], classifier.metadata.preprocess)))
    assert out.shape == (2, len(classifier.labels))  # the same outputs as the shipped file

    runs = [one_run(model, network, None, crops, repeats=2) for _ in range(2)]
    rows = summarise(runs)
    assert {(r["threads"], r["batch"]) for r in rows} == {(1, 1), (1, 8), (2, 1), (2, 8)}
    static = classifier.metadata.quantization == "int8-static"
    # the static file on ONNX Runtime's other int8 kernels: the saturating ones where the
    # default ones saturate (x86 without VNNI), the slower u8u8 ones elsewhere
    other = SATURATING if not default_int8_exact() else U8U8
    assert sum(r["runtime"] == other for r in rows) == (4 if static else 0)
    # and its float graph, the way left where the exact int8 kernels are slow
    assert sum(r["runtime"] == FLOAT_VIEW for r in rows) == (4 if static else 0)
    for row in rows:
        low, high = row["per_crop_range_ms"]
        assert 0 < low <= row["per_crop_ms"] <= high
        if row["runtime"].startswith("binwatch"):
            assert row["ratio_vs_binwatch"] == 1.0
        else:
            assert row["runtime"] in ("torch eager (float32)", other, FLOAT_VIEW)
            ratio_low, ratio_high = row["ratio_range"]
            assert 0 < ratio_low <= row["ratio_vs_binwatch"] <= ratio_high


def test_a_new_result_keeps_the_earlier_ones() -> None:
    first = {"date": "1", "rows": [1]}
    assert with_earlier(first, None) == first
    second = with_earlier({"date": "2", "rows": [2]}, dict(first))
    third = with_earlier({"date": "3", "rows": [3]}, second)
    assert [third["date"]] + [e["date"] for e in third["earlier"]] == ["3", "2", "1"]
    assert all("earlier" not in e for e in third["earlier"])
    # the hand-kept form before this (one dict of named results) is kept as one entry
    old = {"date": "0", "earlier": {"note": "by hand", "lite0-waste-2.1": {}}}
    assert with_earlier({"date": "1"}, old)["earlier"] == [{"date": "0"}, old["earlier"]]
