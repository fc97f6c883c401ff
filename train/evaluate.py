"""`binwatch evaluate`: score an ONNX model through the shared classifier (never torch).

Accuracy and macro recall for fine labels and categories, per-class precision and recall, the
4×4 category confusion matrix, calibration (ECE, reliability table) and contamination-flag
precision/recall at the model's thresholds for every bin category, treating each image as an
item dropped into each of the four bins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from train.manifest import Sample
from train.metrics import expected_calibration_error, flag_scores, summary
from train.thresholds import judge_drops
from vision.classifier import Classifier
from vision.imageio import read_image
from vision.metadata import BACKGROUND
from vision.prediction import Prediction
from vision.taxonomy import Category, Profile
from vision.verdict import VerdictKind
from vision.zoom import Reading, ZoomParams, read_photos

log = logging.getLogger(__name__)
CATEGORIES = list(Category)


def read_samples(
    classifier: Classifier,
    samples: Sequence[Sample],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    batch: int = 64,
    zoom: ZoomParams | None = None,
) -> list[Reading]:
    """How the classifier reads the samples' images (each through `transform` first when
    given), in batches, through vision's preprocessing: whole, or with `zoom` as `binwatch
    classify` reads them (a small item on a plain floor read close up as well, vision.zoom;
    each reading keeps the whole photo's too)."""
    out: list[Reading] = []
    for start in tqdm(range(0, len(samples), batch), desc="evaluate", unit="batch", leave=False):
        images = [read_image(s.path) for s in samples[start : start + batch]]
        if transform is not None:
            images = [transform(image) for image in images]
        if zoom is None:
            out += [Reading(p, None, p) for p in classifier.classify(images)]
        else:
            out += read_photos(classifier, images, zoom)
    return out


def classify_samples(
    classifier: Classifier,
    samples: Sequence[Sample],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    batch: int = 64,
    zoom: ZoomParams | None = None,
) -> list[Prediction]:
    """The classifier's predictions for the samples' images (`read_samples`)."""
    return [r.prediction for r in read_samples(classifier, samples, transform, batch, zoom)]


def predict(
    classifier: Classifier,
    samples: Sequence[Sample],
    batch: int = 64,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Probabilities (N×outputs) for the samples' images (see classify_samples)."""
    return np.stack(
        [p.probabilities for p in classify_samples(classifier, samples, transform, batch)]
    )


def split_outputs(probs: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(item probabilities renormalised over the item outputs, P(background) per row; zeros
    when the model has no `background` output). The item columns keep their order."""
    items = [j for j, label in enumerate(labels) if label != BACKGROUND]
    background = (
        probs[:, labels.index(BACKGROUND)] if BACKGROUND in labels else np.zeros(len(probs))
    )
    kept = probs[:, items].astype(np.float64)
    return kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12), np.asarray(background)


def category_probs(probs: np.ndarray, labels: Sequence[str], profile: Profile) -> np.ndarray:
    """N×4: each category's probability, the item outputs renormalised (what verdicts use)."""
    items, _ = split_outputs(probs, labels)
    item_labels = [label for label in labels if label != BACKGROUND]
    out = np.zeros((len(probs), len(CATEGORIES)))
    for j, label in enumerate(item_labels):
        out[:, CATEGORIES.index(profile.category_of(label))] += items[:, j]
    return out


def test_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The test split's numbers a model's metadata carries, from its `score` report."""
    metrics = {
        "test_category_accuracy": report["category"]["accuracy"],
        "test_category_macro_recall": report["category"]["macro_recall"],
        "test_fine_accuracy": report["fine"]["accuracy"],
        "test_fine_macro_recall": report["fine"]["macro_recall"],
        "test_ece": report["calibration"]["ece"],
    }
    if "no_item" in report:
        metrics["test_items_dropped"] = report["no_item"]["items_dropped_share"]
    for name, row in report["category"]["per_class"].items():
        metrics[f"test_recall_{name}"] = row["recall"]
    hk = report["flags"]["hazardous_and_kitchen_items"]
    metrics["test_flag_precision_hazardous_kitchen"] = hk["precision"]
    metrics["test_flag_recall_hazardous_kitchen"] = hk["recall"]
    return metrics


def score(classifier: Classifier, samples: Sequence[Sample], probs: np.ndarray) -> dict[str, Any]:
    """Scores on item photos; each is answered by its most likely item label (for a model with
    a `background` output, `no_item` says how many items it would have dropped as empty)."""
    labels = list(classifier.labels)
    item_labels = [label for label in labels if label != BACKGROUND]
    profile = classifier.profile
    label_index = {label: i for i, label in enumerate(item_labels)}
    truth = np.array([label_index[s.label] for s in samples])
    items, background = split_outputs(probs, labels)
    predicted = items.argmax(axis=1)
    truth_cat = np.array([CATEGORIES.index(profile.category_of(s.label)) for s in samples])
    cat_probs = category_probs(probs, labels, profile)
    fine = summary(truth, predicted, item_labels)
    cats = summary(truth_cat, cat_probs.argmax(axis=1), [c.value for c in CATEGORIES])
    ece, reliability = expected_calibration_error(items, truth)
    cat_ece, _ = expected_calibration_error(cat_probs, truth_cat)
    result = {
        "images": len(samples),
        "fine": fine,
        "category": cats,
        "calibration": {"ece": ece, "category_ece": cat_ece, "reliability": reliability},
        "flags": contamination_flags(cat_probs, truth_cat, classifier),
    }
    if BACKGROUND in labels:
        dropped = background >= classifier.metadata.thresholds.background
        result["no_item"] = {
            "items_dropped": int(dropped.sum()),
            "items_dropped_share": float(dropped.mean()) if len(dropped) else float("nan"),
            "threshold": classifier.metadata.thresholds.background,
        }
    return result


def empty_rejection(
    classifier: Classifier, samples: Sequence[Sample], zoom: ZoomParams | None = None
) -> dict[str, Any]:
    """How many crops without an item the model answers "no item", overall and per source
    (none, for a model without a `background` output); read whole, or with `zoom` as `binwatch
    classify` reads them (read_samples)."""
    rejected = np.array(
        [p.is_background for p in classify_samples(classifier, samples, zoom=zoom)], bool
    )
    per_source = {}
    for source in sorted({s.source for s in samples}):
        mask = np.array([s.source == source for s in samples])
        per_source[source] = {"crops": int(mask.sum()), "rejected": float(rejected[mask].mean())}
    return {
        "crops": len(samples),
        "rejected": float(rejected.mean()) if len(rejected) else float("nan"),
        "by_source": per_source,
    }


def contamination_flags(
    cat_probs: np.ndarray, truth_cat: np.ndarray, classifier: Classifier
) -> dict[str, Any]:
    """Each image dropped into each bin: flag precision/recall per bin and per item category."""
    thresholds = classifier.metadata.thresholds
    per_bin: dict[str, Any] = {}
    flagged_all, wrong_all, item_cat_all = [], [], []
    kinds = judge_drops(cat_probs, thresholds)
    for b, bin_cat in enumerate(CATEGORIES):
        flagged = kinds[:, b] == VerdictKind.CONTAMINATED
        wrong = truth_cat != b
        per_bin[bin_cat.value] = flag_scores(flagged, wrong)
        flagged_all.append(flagged)
        wrong_all.append(wrong)
        item_cat_all.append(truth_cat)
    flagged, wrong, item_cat = map(np.concatenate, (flagged_all, wrong_all, item_cat_all))
    by_item = {
        c.value: flag_scores(flagged[item_cat == i], wrong[item_cat == i])
        for i, c in enumerate(CATEGORIES)
    }
    mask = np.isin(
        item_cat, [CATEGORIES.index(Category.HAZARDOUS), CATEGORIES.index(Category.KITCHEN)]
    )
    return {
        "by_bin": per_bin,
        "by_item_category": by_item,
        "hazardous_and_kitchen_items": flag_scores(flagged[mask], wrong[mask]),
        "all": flag_scores(flagged, wrong),
        "thresholds": thresholds.model_dump(mode="json"),
    }
