from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.tiny_model import PROTOTYPES, solid_image, tiny_metadata, write_tiny_model
from vision.classifier import Classifier, ClassifierOptions
from vision.errors import MetadataError, ModelError
from vision.imageio import read_image
from vision.taxonomy import Category


def test_solid_colours_get_their_labels_and_categories(tiny_model: Path) -> None:
    classifier = Classifier(tiny_model)
    labels = list(PROTOTYPES)
    predictions = classifier.classify([solid_image(label) for label in labels])
    assert [p.label for p in predictions] == labels
    assert predictions[labels.index("battery")].category is Category.HAZARDOUS
    assert predictions[labels.index("food_waste")].category is Category.KITCHEN
    for p in predictions:
        assert p.confidence > 0.9
        assert p.probabilities.shape == (12,)
        assert abs(float(p.probabilities.sum()) - 1.0) < 1e-5
        assert abs(sum(p.category_probabilities.values()) - 1.0) < 1e-5
        assert p.category_probabilities[p.category] >= p.confidence - 1e-6


def test_in_between_colour_splits_labels_but_not_categories(tiny_model: Path) -> None:
    # halfway between plastic and glass: two recyclable labels share the probability
    square = (64, 64)  # no letterbox padding to pull the mean colour towards grey
    mix = (solid_image("plastic", square).astype(int) + solid_image("glass", square)) // 2
    (prediction,) = Classifier(tiny_model).classify([mix.astype(np.uint8)])
    assert prediction.label in ("plastic", "glass")
    assert 0.4 < prediction.confidence < 0.6
    assert prediction.category_probabilities[Category.RECYCLABLE] > 0.99


def test_batching_matches_one_at_a_time(tiny_model: Path) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (rng.integers(20, 90), rng.integers(20, 90), 3), np.uint8)
              for _ in range(11)]  # fmt: skip
    batched = Classifier(tiny_model, ClassifierOptions(batch_size=4)).classify(images)
    single = Classifier(tiny_model, ClassifierOptions(batch_size=1, threads=2)).classify(images)
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)


def test_several_views_of_an_item_average_their_probabilities(tiny_model: Path) -> None:
    classifier = Classifier(tiny_model, ClassifierOptions(batch_size=3))
    rng = np.random.default_rng(2)
    views = [[rng.integers(0, 256, (30, 40, 3), np.uint8) for _ in range(n)] for n in (1, 4, 2)]
    views[2] = [solid_image("battery"), solid_image("plastic")]  # one each: a coin toss
    combined = classifier.classify_views(views)
    for item, prediction in zip(views, combined, strict=True):
        alone = np.mean([p.probabilities for p in classifier.classify(item)], axis=0)
        np.testing.assert_allclose(prediction.probabilities, alone, atol=1e-6)
    assert combined[0].label == classifier.classify(views[0])[0].label
    assert combined[2].confidence < 0.6  # two confident views that disagree: not confident
    assert classifier.classify_views([]) == []
    with pytest.raises(ValueError, match="at least one image"):
        classifier.classify_views([[solid_image("battery")], []])


def test_fixed_batch_model_pads_the_last_chunk(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "fixed.onnx", batch=4)
    images = [solid_image(label) for label in ("paper", "glass", "metal", "plastic", "battery")]
    predictions = Classifier(path).classify(images)
    assert [p.label for p in predictions] == ["paper", "glass", "metal", "plastic", "battery"]


def test_rgb_input_order(tiny_model: Path) -> None:
    rgb = np.ascontiguousarray(solid_image("plastic")[:, :, ::-1])
    assert Classifier(tiny_model).classify([rgb], order="rgb")[0].label == "plastic"
    assert Classifier(tiny_model).classify([rgb], order="bgr")[0].label != "plastic"


def test_profile_override_changes_categories_not_labels(tmp_path: Path) -> None:
    labels = ("battery", "food_waste", "paper")
    path = write_tiny_model(tmp_path / "m.onnx", labels=labels)
    shanghai = Classifier(path, profile="shanghai")
    assert shanghai.profile.name == "shanghai"
    assert Classifier(path).profile.name == "national"


@pytest.mark.dataset
def test_real_photos_run_through_the_model(
    tiny_model: Path, waste_v1_rows: list[dict[str, str]]
) -> None:
    from tests.conftest import WASTE_V1

    rows = [r for r in waste_v1_rows if r["split"] == "test"][:40]
    images = [read_image(WASTE_V1 / r["path"]) for r in rows]
    assert all(img.ndim == 3 and img.shape[2] == 3 for img in images)
    predictions = Classifier(tiny_model, ClassifierOptions(batch_size=16)).classify(images)
    assert len(predictions) == 40
    assert all(p.label in PROTOTYPES for p in predictions)


def _broken(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.onnx"
    if kind == "no_metadata":
        write_tiny_model(path, metadata=None)
    elif kind == "label_mismatch":
        write_tiny_model(path, outputs=5)
    elif kind == "truncated":
        write_tiny_model(path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "not_onnx":
        path.write_bytes(b"\xff\xd8\xff\xe0 a JPEG pretending to be a model")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "wrong_input_size":
        write_tiny_model(path, input_size=32, metadata=tiny_metadata(input_size=64))
    elif kind == "bad_metadata":
        model = onnx.load_from_string(write_tiny_model(tmp_path / "ok.onnx").read_bytes())
        for prop in model.metadata_props:
            if prop.key == "binwatch":
                prop.value = prop.value.replace('"labels":["paper"', '"labels":["sofa"')
        onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("no_metadata", MetadataError, "no binwatch metadata"),
        ("bad_metadata", MetadataError, "unknown fine label.*sofa"),
        ("label_mismatch", ModelError, r"outputs shape \[1, 5\] but its metadata lists 12 labels"),
        ("truncated", ModelError, "not a loadable ONNX model"),
        ("not_onnx", ModelError, "not a loadable ONNX model"),
        ("empty", ModelError, "not a loadable ONNX model"),
        ("wrong_input_size", ModelError, "disagrees with the metadata's 3×64×64"),
    ],
)
def test_unusable_model_files_are_refused(
    tmp_path: Path, kind: str, error: type[Exception], message: str
) -> None:
    path = _broken(tmp_path, kind)
    with pytest.raises(error, match=message) as caught:
        Classifier(path)
    assert "\n" not in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        Classifier(tmp_path / "nothing.onnx")


@pytest.mark.parametrize("options", [{"threads": 0}, {"batch_size": 0}, {"threads": 100}])
def test_options_are_bounded(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        ClassifierOptions(**options)


def test_int8_products_are_added_without_saturating() -> None:
    """A static int8 file's sums as the math says on every x86 host. Without VNNI (AVX2; this
    project's 2-core host), ONNX Runtime's default u8s8 kernels add pairs of u8 × s8 products
    in 16-bit lanes that saturate: 255 × 127 twice is 64,770, kept as 32,767, which cost the
    shipped static file 2.1 points of pooled test accuracy there. binwatch's sessions ask for
    the kernels that do not where the default ones saturate (`session_options`,
    vision.int8_kernels); with VNNI the default ones give the exact sum."""
    import onnxruntime as ort

    from vision.classifier import session_options
    from vision.int8_kernels import probe_graph, probe_inputs, sums_exact

    # the probe's MatMul and Conv: each PRODUCTS products of 255 × 127
    session = ort.InferenceSession(
        probe_graph(), session_options(1), providers=["CPUExecutionProvider"]
    )
    assert sums_exact(session), session.run(["matmul_y"], probe_inputs())[0][0, :3]
